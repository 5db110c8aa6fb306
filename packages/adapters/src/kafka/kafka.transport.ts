import {
  isMessageRejection,
  TransportTechnicalError,
  type DispatchResult,
  type InboundMessage,
  type InboundSink,
  type OutboundRequest,
  type PsiLogger,
  type ServiceCoordinates,
  type Transport,
} from '@psi/core';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { logSend } from '../transport-log';
import { KafkaAckConsumer } from './kafka-ack.consumer';
import { loadKafkajs } from './kafka-client';
import { LazyProducer } from './lazy-producer';
import { KafkaMessageCodec } from './kafka-message.codec';
import {
  compileKafkaOptions,
  kafkaLog,
  type CompiledKafkaOptions,
  type KafkaTransportOptions,
} from './kafka-options';

/**
 * Carries requests to services over Kafka and answers back from reply topics (kafkajs).
 *
 * `send` produces to the service's request topic (`coordinates.address`) with key = correlation
 * key, value = JSON `{ operation, payload }` and the `x-psi-*` headers; it returns `accepted`,
 * as answers come later on a reply topic (`coordinates.replyAddress`, else the request's
 * `replyTo`, else the first of `replyTopics`). Broker and connection failures, and sends slower
 * than the per-send timeout, throw TransportTechnicalError.
 *
 * `start` runs a consumer in `groupId` on `replyTopics` and hands every answer to the sink,
 * committing its offset only after `sink.receive` resolved: at least once. The answers of a
 * fetched partition batch go to `receive` concurrently (`receiveConcurrency`, default 32), so the
 * store can group-commit them; offsets are committed up to the first answer whose receive has not
 * resolved. A receive that throws pauses that partition and the answers from that one on come
 * again (same message ids), so nothing is lost while the coordinator's store is down; a record
 * the coordinator refuses for what it is (`isMessageRejection`: over a limit, a control character
 * in an id) cannot be cured that way, so it is kept as a `rejected` dead letter holding the record
 * as received (`sink.reject`) and the partition moves on. See {@link KafkaMessageCodec} for the
 * wire format and for how malformed values reach the sink instead of being dropped.
 *
 * `kafkajs` is an optional peer dependency, loaded when the transport is created.
 */
export class KafkaTransport implements Transport {
  readonly name = 'kafka';
  private readonly options: CompiledKafkaOptions;
  private readonly kafka: Kafka;
  private readonly producer: LazyProducer;
  private consumer: KafkaAckConsumer | undefined;
  private stopped = false;
  private readonly log: PsiLogger;

  constructor(options: KafkaTransportOptions) {
    this.options = compileKafkaOptions(options);
    this.log = kafkaLog(options.logger);
    this.kafka = new (loadKafkajs().Kafka)(this.options.kafka);
    this.producer = new LazyProducer(this.kafka, this.options.producer);
  }

  async start(sink: InboundSink): Promise<void> {
    this.stopped = false;
    await this.producer.get().catch((error: unknown) => {
      throw technical(`Kafka transport could not connect to ${this.brokerList()}`, error);
    });
    const { groupId, replyTopics } = this.options;
    if (replyTopics.length === 0 || this.consumer || groupId === undefined) return;
    const consumer = new KafkaAckConsumer(
      this.kafka,
      groupId,
      replyTopics,
      this.options,
      (topic, partition, message) => receiveAnswer(sink, topic, partition, message),
    );
    this.consumer = consumer; // before the first await, so a concurrent stop() finds it
    try {
      await consumer.start();
    } catch (error) {
      if (this.consumer === consumer) this.consumer = undefined;
      throw technical(
        `Kafka transport could not consume ${replyTopics.join(', ')} in group "${groupId}"`,
        error,
      );
    }
  }

  async send(request: OutboundRequest, coordinates: ServiceCoordinates): Promise<DispatchResult> {
    const startedAt = performance.now();
    try {
      const result = await this.publish(request, coordinates);
      logSend(this.log, request, coordinates, { result }, startedAt);
      return result;
    } catch (error) {
      logSend(this.log, request, coordinates, { error }, startedAt);
      throw error;
    }
  }

  private async publish(
    request: OutboundRequest,
    coordinates: ServiceCoordinates,
  ): Promise<DispatchResult> {
    if (this.stopped) {
      throw new TransportTechnicalError('The Kafka transport is stopped; start it before sending.');
    }
    const replyTo = coordinates.replyAddress ?? request.replyTo ?? this.options.replyTopics[0];
    const message = KafkaMessageCodec.encodeRequest(request, replyTo);
    const timeoutMs = coordinates.timeoutMs ?? this.options.defaultSendTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const produce = async (): Promise<void> => {
      const producer = await this.producer.get();
      await producer.send({ topic: coordinates.address, messages: [message] });
    };
    let outcome: 'sent' | 'timeout';
    try {
      outcome = await Promise.race([produce().then(() => 'sent' as const), timeout]);
    } catch (error) {
      throw technical(
        `Kafka send of "${request.operation}" to topic "${coordinates.address}" failed`,
        error,
      );
    } finally {
      clearTimeout(timer);
    }
    if (outcome === 'timeout') {
      // The produce may still land later; services dedupe on the request id (x-psi-message-id).
      throw new TransportTechnicalError(
        `Kafka send of "${request.operation}" to topic "${coordinates.address}" timed out after ${timeoutMs} ms.`,
      );
    }
    return { kind: 'accepted' };
  }

  /** Stops consuming (the answers in hand are received and committed first), then disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    const consumer = this.consumer;
    this.consumer = undefined;
    const results = await Promise.allSettled([consumer?.stop(), this.producer.close()]);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw technical('Kafka transport did not stop cleanly', failure.reason);
  }

  /**
   * Reply-topic partitions this node owns, by topic, as of the last group join; empty before the
   * first join and after `stop`. For health checks and tests.
   */
  currentAssignment(): Record<string, number[]> {
    return this.consumer?.currentAssignment() ?? {};
  }

  private brokerList(): string {
    const { brokers } = this.options.kafka;
    return Array.isArray(brokers) ? brokers.join(', ') : 'the configured brokers';
  }
}

/**
 * Hands one reply record to the sink. A record the sink refuses for what it is (over a limit,
 * malformed: retrying cannot cure it), or one that cannot be read, is kept by `sink.reject` as a
 * `rejected` dead letter holding the record as received, and its offset moves on. Any other
 * failure (a store outage) is thrown: the partition is retried from this record, nothing is lost.
 */
async function receiveAnswer(
  sink: InboundSink,
  topic: string,
  partition: number,
  message: KafkaMessage,
): Promise<void> {
  let answer: InboundMessage;
  try {
    answer = KafkaMessageCodec.decodeAnswer(topic, partition, message);
  } catch (error) {
    await keepRejected(sink, topic, partition, message, error, undefined);
    return;
  }
  try {
    await sink.receive(answer);
  } catch (error) {
    if (!isMessageRejection(error)) throw error;
    await keepRejected(sink, topic, partition, message, error, answer.event);
  }
}

async function keepRejected(
  sink: InboundSink,
  topic: string,
  partition: number,
  message: KafkaMessage,
  error: unknown,
  event: string | undefined,
): Promise<void> {
  // A sink that cannot keep it: retried like a failure, never dropped.
  if (!sink.reject) throw error;
  await sink.reject({
    error,
    messageId: KafkaMessageCodec.recordId(topic, partition, message),
    source: `kafka:${topic}/${partition}@${message.offset}`,
    raw: KafkaMessageCodec.rawRecord(topic, partition, message),
    ...(event !== undefined ? { event } : {}),
  });
}

function technical(message: string, cause: unknown): TransportTechnicalError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new TransportTechnicalError(`${message}: ${detail}`, { cause });
}
