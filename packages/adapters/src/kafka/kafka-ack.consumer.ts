import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { CompiledKafkaConsumingOptions, KafkaErrorContext } from './kafka-options';

/** Handles one message; the offset is committed only once the returned promise resolves. */
export type KafkaMessageHandler = (
  topic: string,
  partition: number,
  message: KafkaMessage,
) => Promise<void>;

/**
 * A consumer-group member with at-least-once delivery: a message's offset is committed only
 * after its handler resolved (autoCommit off; `offset + 1` committed per message). When the
 * handler throws, nothing is committed, that partition pauses (backoff per the redelivery
 * policy) and the same message comes again; other partitions keep flowing. A crash or a
 * rebalance before the commit hands the message to whichever member owns the partition next.
 *
 * A consumer that kafkajs gives up on (a crash it does not restart itself) is replaced by a new
 * one after a backoff, so a node never silently stops reading; `onError` hears of each crash.
 *
 * No heartbeat is sent while a handler runs: a handler slower than the consumer's
 * `sessionTimeout` loses its partitions and the message is handled again elsewhere.
 *
 * Used by the KafkaTransport for reply topics and by the KafkaServiceHost for request topics.
 */
export class KafkaAckConsumer {
  private consumer: Consumer | undefined;
  private assignment: Record<string, number[]> = {};
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  /** Consecutive failures per `topic:partition`, for the backoff. */
  private readonly failures = new Map<string, number>();
  private stopped = true;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Consecutive crashes without a successful group join since, for the restart backoff. */
  private crashes = 0;

  constructor(
    private readonly kafka: Kafka,
    private readonly groupId: string,
    private readonly topics: string[],
    private readonly options: CompiledKafkaConsumingOptions,
    private readonly handler: KafkaMessageHandler,
  ) {}

  /** Joins the group and starts consuming; resolves before the first assignment arrives. */
  async start(): Promise<void> {
    if (this.consumer) return;
    this.stopped = false;
    await this.open();
  }

  /** Lets the message in hand finish (and commit), leaves the group and disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.crashes = 0;
    const consumer = this.consumer;
    this.consumer = undefined;
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
    this.failures.clear();
    this.assignment = {};
    if (consumer) await consumer.disconnect();
  }

  /** Partitions this member owns, by topic, as of the last group join. */
  currentAssignment(): Record<string, number[]> {
    return Object.fromEntries(Object.entries(this.assignment).map(([t, p]) => [t, [...p]]));
  }

  private async open(): Promise<void> {
    const consumer = this.kafka.consumer({ ...this.options.consumer, groupId: this.groupId });
    this.consumer = consumer; // before the first await, so a concurrent stop() finds it
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      if (this.consumer !== consumer) return;
      this.assignment = event.payload.memberAssignment;
      this.crashes = 0;
    });
    consumer.on(consumer.events.CRASH, (event) => {
      this.report(event.payload.error, { kind: 'consumer' });
      // kafkajs restarts by itself after retriable errors only; a consumer that stopped for good
      // would leave answers unread, so start a new one (it resumes from committed offsets).
      if (!event.payload.restart && this.consumer === consumer) {
        this.consumer = undefined;
        this.assignment = {};
        this.scheduleRestart();
      }
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: this.topics, fromBeginning: this.options.fromBeginning });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.eachBatch(payload),
      });
    } catch (error) {
      if (this.consumer === consumer) this.consumer = undefined;
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
  }

  private scheduleRestart(): void {
    if (this.stopped || this.restartTimer) return;
    this.crashes += 1;
    const delay = this.backoff(this.crashes);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped || this.consumer) return;
      this.open().catch((error: unknown) => {
        this.report(error, { kind: 'consumer' });
        this.scheduleRestart();
      });
    }, delay);
  }

  private backoff(attempt: number): number {
    const { initialDelayMs, multiplier, maxDelayMs } = this.options.redelivery;
    return Math.min(maxDelayMs, initialDelayMs * multiplier ** (attempt - 1));
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale, pause } =
      payload;
    const { topic, partition } = batch;
    const key = `${topic}:${partition}`;
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) return;
      try {
        await this.handler(topic, partition, message);
      } catch (error) {
        this.redeliverLater(key, pause, error, {
          kind: 'receive',
          topic,
          partition,
          offset: message.offset,
        });
        return;
      }
      this.failures.delete(key);
      resolveOffset(message.offset);
      const next = (BigInt(message.offset) + 1n).toString();
      // A failed commit (e.g. a rebalance) propagates to kafkajs, which rejoins; the message may
      // then come again, and PSI dedupes it by message id.
      await commitOffsetsIfNecessary({
        topics: [{ topic, partitions: [{ partition, offset: next }] }],
      });
      await heartbeat();
    }
  }

  /** Pauses the partition; on resume kafkajs fetches again from the first unresolved offset. */
  private redeliverLater(
    key: string,
    pause: () => () => void,
    error: unknown,
    context: KafkaErrorContext,
  ): void {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const delay = this.backoff(failures);
    const resume = pause();
    const timer = setTimeout(() => {
      this.resumeTimers.delete(timer);
      resume();
    }, delay);
    this.resumeTimers.add(timer);
    this.report(error, { ...context, retryInMs: delay });
  }

  private report(error: unknown, context: KafkaErrorContext): void {
    if (this.options.onError) {
      try {
        this.options.onError(error, context);
      } catch {
        // A failing error hook must not stop consumption.
      }
      return;
    }
    this.kafka
      .logger()
      .error(`PSI Kafka ${context.kind} failure: ${String(error)}`, { ...context });
  }
}
