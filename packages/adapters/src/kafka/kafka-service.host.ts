import { readTraceHeaders, TransportTechnicalError, type TraceHeaders } from '@psi/core';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { KafkaOptionsError, KafkaReplyToMissingError } from '../errors';
import { KafkaAckConsumer } from './kafka-ack.consumer';
import { loadKafkajs } from './kafka-client';
import { LazyProducer } from './lazy-producer';
import { KafkaMessageCodec } from './kafka-message.codec';
import {
  compileKafkaConnection,
  compileKafkaConsuming,
  type CompiledKafkaConsumingOptions,
  type KafkaConnectionOptions,
  type KafkaConsumingOptions,
} from './kafka-options';

/** A request as a service behind a {@link KafkaServiceHost} sees it. */
export interface KafkaServiceRequest {
  /** `x-psi-message-id` (PSI's request id), else `${topic}:${partition}:${offset}`: dedupe on it. */
  requestId: string;
  correlationKey: string | undefined;
  operation: string | undefined;
  /** Topic answers go to (`x-psi-reply-to`). */
  replyTo: string | undefined;
  payload: unknown;
  /** Every header, as strings. */
  headers: Record<string, string>;
  topic: string;
  partition: number;
  offset: string;
}

/** Lets a service answer a request, now or later (even after the handler returned). */
export interface KafkaServiceContext {
  /**
   * Produces an answer to the request's reply topic with its correlation key. The message id
   * defaults to `${requestId}:${event}:${n}` (n counts answers with that event to this request),
   * so a handler that runs again for a redelivered request sends answers PSI recognises as
   * duplicates.
   */
  respond(
    event: string,
    payload: unknown,
    options?: {
      messageId?: string;
      /**
       * The answer's W3C Trace Context. @default the request's (`traceparent`, `tracestate`
       * headers): the answer continues the trace of the request it answers
       */
      traceHeaders?: TraceHeaders;
    },
  ): Promise<void>;
}

/** The service's code: called once per request (at least once: dedupe on `requestId`). */
export type KafkaServiceHandler = (
  request: KafkaServiceRequest,
  context: KafkaServiceContext,
) => Promise<void> | void;

/** Options of the {@link KafkaServiceHost}. */
export interface KafkaServiceHostOptions extends KafkaConnectionOptions, KafkaConsumingOptions {
  /** Topic the service consumes requests from (its `address` in PSI's registry). */
  requestTopic: string;
  /** Consumer group of the service's instances. */
  groupId: string;
  handler: KafkaServiceHandler;
  /** Where answers go when a request names no reply topic. @default none: `respond` throws */
  defaultReplyTopic?: string;
  /**
   * How often the handler may fail on one request before the request is set aside on
   * `poisonTopic`, so that one request it can never handle does not stall its partition.
   * @default 5
   */
  maxAttempts?: number;
  /**
   * Where a request goes once the handler failed on it `maxAttempts` times: the record as it
   * came (key, value, headers) plus `x-psi-poison-reason`, `x-psi-poison-error`,
   * `x-psi-poison-attempts` and `x-psi-poison-source` (topic:partition:offset).
   * @default `${requestTopic}.poison`
   */
  poisonTopic?: string;
}

/** Headers a request set aside on the poison topic carries besides its own. */
export const KafkaPoisonHeader = {
  Reason: 'x-psi-poison-reason',
  Error: 'x-psi-poison-error',
  Attempts: 'x-psi-poison-attempts',
  Source: 'x-psi-poison-source',
} as const;

/**
 * Runs a service behind a Kafka request topic, speaking PSI's wire format: consumes requests
 * (committing each only after the handler resolved; one at a time in partition order unless
 * `receiveConcurrency` says otherwise), and produces answers to the request's
 * `x-psi-reply-to` with its correlation key. For tests, samples and demos — e.g. the procurement
 * supplier — and as a reference for services written in other languages.
 */
export class KafkaServiceHost {
  private readonly kafka: Kafka;
  private readonly consuming: CompiledKafkaConsumingOptions;
  private consumer: KafkaAckConsumer | undefined;
  private readonly producer: LazyProducer;
  private stopped = false;
  /** Failed handler runs per record (`topic:partition:offset`) not yet handled or set aside. */
  private readonly failures = new Map<string, number>();
  private readonly maxAttempts: number;

  constructor(private readonly options: KafkaServiceHostOptions) {
    if (!options.requestTopic) throw new KafkaOptionsError('"requestTopic" is required.');
    if (!options.groupId) throw new KafkaOptionsError('"groupId" is required.');
    this.maxAttempts = options.maxAttempts ?? 5;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1)
      throw new KafkaOptionsError('"maxAttempts" must be a whole number of at least 1.');
    this.consuming = compileKafkaConsuming(options);
    this.kafka = new (loadKafkajs().Kafka)(compileKafkaConnection(options));
    this.producer = new LazyProducer(this.kafka, this.consuming.producer);
  }

  async start(): Promise<void> {
    if (this.consumer) return;
    this.stopped = false;
    await this.producer.get();
    const consumer = new KafkaAckConsumer(
      this.kafka,
      this.options.groupId,
      [this.options.requestTopic],
      this.consuming,
      async (topic, partition, message) => {
        const request: KafkaServiceRequest = {
          ...KafkaMessageCodec.decodeRequest(topic, partition, message),
          headers: KafkaMessageCodec.headers(message.headers),
          topic,
          partition,
          offset: message.offset,
        };
        await this.handle(request, message);
      },
    );
    this.consumer = consumer; // before the first await, so a concurrent stop() finds it
    try {
      await consumer.start();
    } catch (error) {
      if (this.consumer === consumer) this.consumer = undefined;
      throw error;
    }
  }

  /** Stops consuming (the requests in hand finish first) and disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.stop();
    await this.producer.close();
  }

  /**
   * Runs the handler; a failure is thrown (the record is read again after the consumer's
   * backoff) until the handler failed `maxAttempts` times on it: then the record is set aside on
   * the poison topic and its offset committed, so the partition moves on and nothing is lost.
   */
  private async handle(request: KafkaServiceRequest, message: KafkaMessage): Promise<void> {
    const source = `${request.topic}:${request.partition}:${request.offset}`;
    try {
      await this.options.handler(request, this.contextFor(request));
      this.failures.delete(source);
    } catch (error) {
      const attempts = (this.failures.get(source) ?? 0) + 1;
      if (attempts < this.maxAttempts) {
        this.failures.set(source, attempts);
        throw error;
      }
      const producer = await this.producer.get();
      await producer.send({
        topic: this.options.poisonTopic ?? `${this.options.requestTopic}.poison`,
        messages: [
          {
            key: message.key,
            value: message.value,
            headers: {
              ...message.headers,
              [KafkaPoisonHeader.Reason]: 'handler-failed',
              [KafkaPoisonHeader.Error]: error instanceof Error ? error.message : String(error),
              [KafkaPoisonHeader.Attempts]: String(attempts),
              [KafkaPoisonHeader.Source]: source,
            },
          },
        ],
      });
      this.failures.delete(source);
    }
  }

  /** Request-topic partitions this instance owns, as of the last group join. */
  currentAssignment(): Record<string, number[]> {
    return this.consumer?.currentAssignment() ?? {};
  }

  private contextFor(request: KafkaServiceRequest): KafkaServiceContext {
    const counts = new Map<string, number>();
    return {
      respond: async (event, payload, options) => {
        const topic = request.replyTo ?? this.options.defaultReplyTopic;
        if (!topic) throw new KafkaReplyToMissingError(request.requestId);
        if (this.stopped) {
          throw new TransportTechnicalError(
            'The KafkaServiceHost is stopped; start it before answering.',
          );
        }
        const n = (counts.get(event) ?? 0) + 1;
        counts.set(event, n);
        const messageId = options?.messageId ?? `${request.requestId}:${event}:${n}`;
        const producer = await this.producer.get();
        await producer.send({
          topic,
          messages: [
            KafkaMessageCodec.encodeAnswer({
              event,
              payload,
              messageId,
              correlationKey: request.correlationKey,
              traceHeaders: options?.traceHeaders ?? readTraceHeaders((n) => request.headers[n]),
            }),
          ],
        });
      },
    };
  }
}
