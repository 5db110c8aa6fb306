import type { Kafka, Producer, ProducerConfig } from 'kafkajs';
import { loadKafkajs } from './kafka-client';

/**
 * A kafkajs producer connected on first use and shared by every send after that. A connect that
 * fails is forgotten, so the next send tries again instead of failing forever.
 */
export class LazyProducer {
  private connecting: Promise<Producer> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly config: ProducerConfig | undefined,
  ) {}

  get(): Promise<Producer> {
    if (!this.connecting) {
      const producer = this.kafka.producer({
        createPartitioner: loadKafkajs().Partitioners.DefaultPartitioner,
        ...this.config,
      });
      this.connecting = producer.connect().then(
        () => producer,
        (error: unknown) => {
          this.connecting = undefined;
          throw error;
        },
      );
    }
    return this.connecting;
  }

  /** Disconnects; a producer that never connected has nothing to disconnect. */
  async close(): Promise<void> {
    const connecting = this.connecting;
    this.connecting = undefined;
    await connecting?.then(
      (producer) => producer.disconnect(),
      () => undefined,
    );
  }
}
