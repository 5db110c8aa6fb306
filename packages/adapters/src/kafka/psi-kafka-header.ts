/**
 * Headers PSI sets on every Kafka request and reads on every answer. Values are UTF-8 strings.
 * They mirror the HTTP transport's `x-psi-*` headers, so one service can speak both.
 */
export const PsiKafkaHeader = {
  /** The invocation's correlation key; also the record key, so one invocation keeps its order. */
  CorrelationKey: 'x-psi-correlation-key',
  /** Request id on requests; on answers, the id PSI dedupes on. */
  MessageId: 'x-psi-message-id',
  /** The topic answers go to. */
  ReplyTo: 'x-psi-reply-to',
  /** The operation called, also in the JSON value. */
  Operation: 'x-psi-operation',
  /** The event an answer carries (the adapter's response handler); may be in the JSON value instead. */
  Event: 'x-psi-event',
} as const;

/** The event given to the sink for an answer that names none (or whose value is not JSON). */
export const UNKNOWN_KAFKA_EVENT = 'psi.kafka.unknown';
