import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { CompiledKafkaConsumingOptions, KafkaErrorContext } from './kafka-options';

/** While a batch runs, its received prefix is committed at most this often (and when it ends). */
const PROGRESS_COMMIT_INTERVAL_MS = 1_000;
/** kafkajs' default `heartbeatInterval`. */
const DEFAULT_HEARTBEAT_INTERVAL_MS = 3_000;

/** Handles one message; the offset is committed only once the returned promise resolves. */
export type KafkaMessageHandler = (
  topic: string,
  partition: number,
  message: KafkaMessage,
) => Promise<void>;

/**
 * A consumer-group member with at-least-once delivery: a message's offset is committed only
 * after its handler resolved (autoCommit off). The messages of a fetched partition batch are
 * handled concurrently, up to `receiveConcurrency` at once (1: one after another, in partition
 * order), and the batch commits only the prefix of messages whose handlers all resolved, so a
 * crash, a stop or a failure never commits past an unhandled message.
 *
 * Order within a partition is given up for throughput (answers of one partition reach the sink
 * in parallel, and the store's group commit can batch them): PSI correlates answers by key or
 * business key and parks those that arrive before their wait state, so arrival order does not
 * decide the outcome. Handlers that need partition order (a service's requests) use 1.
 *
 * When a handler throws, nothing from that message on is committed, that partition pauses
 * (backoff per the redelivery policy) and is fetched again from that message; other partitions
 * keep flowing. Messages after it that were handled already come again too; PSI dedupes them by
 * message id. A crash or a rebalance before the commit hands the messages to whichever member
 * owns the partition next.
 *
 * A consumer that kafkajs gives up on (a crash it does not restart itself) is replaced by a new
 * one after a backoff, so a node never silently stops reading; `onError` hears of each crash.
 *
 * Heartbeats go out while a batch runs; a single handler that hangs keeps its partition (as a
 * stuck store would also stall any other member), and `stop` waits for it.
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

  /** Lets the messages in hand finish (and commit), leaves the group and disconnects. */
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

  /**
   * Hands the messages of one partition batch to the handler, at most `receiveConcurrency` at a
   * time, started in offset order. The batch's "received" prefix is the messages before the first
   * one whose handler has not resolved; only that prefix is resolved and committed (now and then
   * while the batch runs, and when it ends), so an offset is never committed past a message whose
   * handler is still running or failed.
   *
   * A failing handler stops new starts; the ones in flight finish, the prefix before the failure
   * is committed, and the partition pauses and is fetched again from the failed message (its
   * successors that were received already come again too: at least once, deduped by message id).
   * A stop or a rebalance stops new starts the same way and commits what was received; a failed
   * heartbeat or commit is rethrown to kafkajs (which rejoins) once the in-flight ones finished.
   * Heartbeats go out every `heartbeatInterval` while the batch runs.
   */
  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale, pause } =
      payload;
    const { topic, partition, messages } = batch;
    const key = `${topic}:${partition}`;
    const done = new Array<boolean>(messages.length).fill(false);
    let started = 0;
    /** Length of the prefix whose handlers all resolved (resolved in kafkajs too). */
    let received = 0;
    let committed = 0;
    let lastCommitAt = Date.now();
    let committing: Promise<void> | undefined;
    let failure: { index: number; error: unknown } | undefined;
    let broken: { error: unknown } | undefined;
    const breakWith = (error: unknown): void => {
      broken ??= { error };
    };

    // Commits the received prefix; offsets past the last message cover trailing control records.
    const commitReceived = async (): Promise<void> => {
      if (committed >= received) return;
      const count = received;
      const last = count === messages.length ? batch.lastOffset() : messages[count - 1]!.offset;
      await commitOffsetsIfNecessary({
        topics: [{ topic, partitions: [{ partition, offset: (BigInt(last) + 1n).toString() }] }],
      });
      committed = count;
      lastCommitAt = Date.now();
    };
    const advance = (): void => {
      const before = received;
      while (received < messages.length && done[received]) received += 1;
      if (received === before) return;
      resolveOffset(messages[received - 1]!.offset);
      if (committing || Date.now() - lastCommitAt < PROGRESS_COMMIT_INTERVAL_MS) return;
      committing = commitReceived()
        .catch(breakWith)
        .finally(() => {
          committing = undefined;
        });
    };
    const mayStart = (): boolean =>
      failure === undefined && broken === undefined && isRunning() && !isStale();
    const worker = async (): Promise<void> => {
      while (started < messages.length && mayStart()) {
        const index = started;
        started += 1;
        try {
          await this.handler(topic, partition, messages[index]!);
        } catch (error) {
          if (failure === undefined || index < failure.index) failure = { index, error };
          continue;
        }
        done[index] = true;
        advance();
      }
    };

    const heartbeats = setInterval(() => {
      heartbeat().catch(breakWith);
    }, this.options.consumer.heartbeatInterval ?? DEFAULT_HEARTBEAT_INTERVAL_MS);
    try {
      const workers = Math.min(this.options.receiveConcurrency, messages.length);
      await Promise.all(Array.from({ length: workers }, worker));
      await committing;
    } finally {
      clearInterval(heartbeats);
    }
    // A failed commit (e.g. a rebalance) goes to kafkajs, which rejoins; the uncommitted messages
    // then come again, and PSI dedupes them by message id.
    await commitReceived().catch(breakWith);
    if (broken) throw broken.error;
    if (failure) {
      // Progress before the failure means a different message failed than last time.
      if (received > 0) this.failures.delete(key);
      this.redeliverLater(key, pause, failure.error, {
        kind: 'receive',
        topic,
        partition,
        offset: messages[failure.index]!.offset,
      });
      return;
    }
    if (received > 0) this.failures.delete(key);
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
    if (this.stopped) {
      this.report(error, context);
      return;
    }
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
