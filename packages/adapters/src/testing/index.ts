export { describeTransportConformance, ConformanceFailure } from './transport-conformance';
export type {
  ConformanceCallContext,
  ConformanceOperation,
  ConformanceService,
  TransportConformanceHarness,
  TransportConformanceFactory,
} from './transport-conformance';
export { RecordingSink } from './recording.sink';
export type { RecordingSinkOptions } from './recording.sink';
