import { startKafkaMockCluster } from '@psi/adapters/testing';

/** A Kafka cluster for a test: the mock cluster, or the real one named by KAFKA_BROKERS. */
export interface KafkaTestCluster {
  brokers: string[];
  /** True when KAFKA_BROKERS named a real cluster (no auto-created 4-partition topics there). */
  external: boolean;
  stop(): Promise<void>;
}

/**
 * Starts librdkafka's mock cluster (`startKafkaMockCluster` of `@psi/adapters/testing`, hosted by
 * node-rdkafka, which `npm ci` builds) and resolves with its bootstrap servers. With
 * KAFKA_BROKERS set (`host:port,host:port`), uses that cluster instead and starts nothing.
 *
 * The mock auto-creates topics with 4 partitions on first use; its first group join takes 3 s.
 */
export async function startMockBroker(
  options: { brokerCount?: number; startTimeoutMs?: number } = {},
): Promise<KafkaTestCluster> {
  const external = process.env.KAFKA_BROKERS?.trim();
  if (external) {
    return {
      brokers: external.split(',').map((b) => b.trim()),
      external: true,
      stop: async () => undefined,
    };
  }
  const cluster = await startKafkaMockCluster(options);
  return { brokers: cluster.brokers, external: false, stop: () => cluster.stop() };
}
