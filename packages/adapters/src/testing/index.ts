export {
  describeTransportConformance,
  ConformanceFailure,
  CONFORMANCE_REFUSAL_EVENT,
} from './transport-conformance';
export type {
  ConformanceCallContext,
  ConformanceOperation,
  ConformanceService,
  TransportCapabilities,
  TransportConformanceHarness,
  TransportConformanceFactory,
} from './transport-conformance';
export { RecordingSink } from './recording.sink';
export type { RecordingSinkOptions } from './recording.sink';
export { startKafkaMockCluster } from './kafka-mock-cluster';
export type { KafkaMockCluster, KafkaMockClusterOptions } from './kafka-mock-cluster';
export { KafkaMockClusterError } from '../errors';
