/**
 * `@psi/adapters/kafka`: the Kafka transport (request and reply topics through kafkajs) and the
 * `KafkaServiceHost` that lets a service answer over Kafka. kafkajs is an optional peer
 * dependency (`npm install kafkajs@^2.2.4`), loaded when a transport or host is created; this
 * entry point is separate so that users of the other transports need neither kafkajs nor its types.
 *
 * @example
 * import { KafkaTransport } from '@psi/adapters/kafka';
 *
 * const kafka = new KafkaTransport({ brokers: ['127.0.0.1:9092'], groupId: 'psi', replyTopics: ['supplier-replies'] });
 * const coordinator = await Coordinator.create({ store, engine, registry, transports: [kafka], adapters });
 * await coordinator.start(); // joins the reply topics' consumer group
 *
 * @module
 */
export { KafkaTransport } from './kafka.transport';
export { compileKafkaOptions } from './kafka-options';
export type {
  KafkaTransportOptions,
  CompiledKafkaOptions,
  KafkaConnectionOptions,
  KafkaConsumingOptions,
  KafkaRedeliveryPolicy,
  KafkaErrorContext,
  KafkaLogLevel,
} from './kafka-options';
export { KafkaPoisonHeader, KafkaServiceHost } from './kafka-service.host';
export type {
  KafkaServiceHostOptions,
  KafkaServiceHandler,
  KafkaServiceRequest,
  KafkaServiceContext,
} from './kafka-service.host';
export { KafkaMessageCodec } from './kafka-message.codec';
export { PsiKafkaHeader, UNKNOWN_KAFKA_EVENT } from './psi-kafka-header';
export {
  KafkaErrorCode,
  KafkaClientMissingError,
  KafkaOptionsError,
  KafkaReplyToMissingError,
} from '../errors';
