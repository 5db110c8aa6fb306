import type { InboundMessage, InboundSink, ReceiveOutcome } from '@psi/core';
import type { KafkaLogLevel, KafkaTransportOptions } from '@psi/adapters/kafka';
import { Kafka, logLevel, Partitioners, type KafkaMessage, type Message } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { startMockBroker, type KafkaTestCluster } from './mock-broker';

/** A topic or group name no other test (or earlier run against a real cluster) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/**
 * Connection and consumer settings that keep tests fast: short fetch waits (quick `stop`),
 * frequent heartbeats, a short session (the mock waits `sessionTimeout - 1 s` for rebalances;
 * a real broker refuses sessions under 6 s), quick redelivery.
 */
export function fastOptions(
  cluster: KafkaTestCluster,
): Omit<KafkaTransportOptions, 'groupId' | 'replyTopics'> {
  return {
    brokers: cluster.brokers,
    clientId: 'psi-test',
    // KAFKA_TEST_LOG=info (or debug) shows kafkajs' view of joins, fetches and commits.
    logLevel: (process.env.KAFKA_TEST_LOG as KafkaLogLevel | undefined) ?? 'nothing',
    connectionTimeoutMs: 1_000,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1_000 },
    consumer: {
      sessionTimeout: cluster.external ? 6_000 : 3_000,
      heartbeatInterval: 300,
      maxWaitTimeInMs: 100,
    },
    redelivery: { initialDelayMs: 50, maxDelayMs: 500 },
  };
}

/** Polls `condition` every 20 ms until it holds; fails with `what` at the deadline. */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An InboundSink that records every attempt and can refuse chosen ones (by throwing). */
export class ScriptedSink implements InboundSink {
  /** Every call of `receive`, refused ones included, in order. */
  readonly attempts: InboundMessage[] = [];
  /** Messages `receive` accepted, in order. */
  readonly accepted: InboundMessage[] = [];

  constructor(
    private readonly refuse: (message: InboundMessage, attempt: number) => boolean = () => false,
  ) {}

  async receive(message: InboundMessage): Promise<ReceiveOutcome> {
    this.attempts.push(message);
    if (this.refuse(message, this.attempts.length))
      throw new Error('sink refuses (simulated store outage)');
    this.accepted.push(message);
    return { status: 'parked', parkedId: `parked-${this.accepted.length}` };
  }
}

/** A plain kafkajs client, to play a foreign producer or to inspect committed offsets. */
export class KafkaProbe {
  private readonly kafka: Kafka;
  private readonly producer;
  private readonly admin;

  constructor(private readonly cluster: KafkaTestCluster) {
    this.kafka = new Kafka({
      brokers: cluster.brokers,
      clientId: 'psi-probe',
      logLevel: logLevel.NOTHING,
    });
    this.producer = this.kafka.producer({
      allowAutoTopicCreation: true,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.admin = this.kafka.admin();
  }

  async connect(): Promise<void> {
    await Promise.all([this.producer.connect(), this.admin.connect()]);
  }

  async disconnect(): Promise<void> {
    await Promise.all([this.producer.disconnect(), this.admin.disconnect()]);
  }

  /**
   * Makes topics with `partitions` partitions on a real cluster (whose auto-created topics have
   * one); on the mock, where CreateTopics fails, topics auto-create with 4 partitions on first use.
   */
  async ensureTopics(topics: string[], partitions = 4): Promise<void> {
    if (!this.cluster.external) return;
    await this.admin.createTopics({
      topics: topics.map((topic) => ({ topic, numPartitions: partitions })),
      waitForLeaders: true,
    });
  }

  async produce(topic: string, messages: Message[]): Promise<void> {
    await this.producer.send({ topic, messages });
  }

  /** Every record of `topic` from its start, read by a consumer of its own until `count` came. */
  async read(topic: string, count: number): Promise<KafkaMessage[]> {
    const consumer = this.kafka.consumer({
      groupId: uniqueName('psi-probe-reader'),
      sessionTimeout: this.cluster.external ? 6_000 : 3_000,
      heartbeatInterval: 300,
      maxWaitTimeInMs: 100,
    });
    const seen: KafkaMessage[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void seen.push(message) });
      await waitUntil(() => seen.length >= count, `${count} record(s) on ${topic}`);
      return seen;
    } finally {
      await consumer.disconnect();
    }
  }

  /** Committed offset of the group per partition (-1: none), as the broker holds them. */
  async committedOffsets(groupId: string, topic: string): Promise<Map<number, number>> {
    const [result] = await this.admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((result?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  }
}

/** One mock broker (or KAFKA_BROKERS) and a probe per test file; `cleanups` run after each test. */
export interface MockKafka {
  readonly cluster: KafkaTestCluster;
  readonly probe: KafkaProbe;
  readonly cleanups: Array<() => Promise<void>>;
}

/** Registers the jest hooks that start, share and stop the broker of a test file. */
export function useMockKafka(): MockKafka {
  let cluster: KafkaTestCluster | undefined;
  let probe: KafkaProbe | undefined;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    cluster = await startMockBroker();
    probe = new KafkaProbe(cluster);
    await probe.connect();
  });

  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  });

  afterAll(async () => {
    await probe?.disconnect();
    await cluster?.stop();
  });

  return {
    get cluster() {
      if (!cluster) throw new Error('the mock broker is not started yet (use it inside a test)');
      return cluster;
    },
    get probe() {
      if (!probe) throw new Error('the Kafka probe is not connected yet (use it inside a test)');
      return probe;
    },
    cleanups,
  };
}
