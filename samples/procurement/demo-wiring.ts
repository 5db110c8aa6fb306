import { HttpInboundServer, HttpTransport, InProcessTransport } from '@psi/adapters';
import { KafkaServiceHost, KafkaTransport, type KafkaTransportOptions } from '@psi/adapters/kafka';
import type { Transport } from '@psi/core';
import { StaticRegistry } from '@psi/registry';
import type { PurchaseOrder } from './contracts';
import type { DemoTransport } from './demo-options';
import { startHttpServices } from './http-services';
import { confirmationFor, createErp, createSupplier, ORDER_CONFIRMED } from './services';

/** A service of the demo could not start (e.g. no Kafka broker at the given address). */
export class DemoSetupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DemoSetupError';
  }
}

/** The supplier's answers may wait an hour for the instance to be ready. */
const SUPPLIER_PARKING_TTL_MS = 3_600_000;

/** Transports, registry and the services behind them, for one demo run. */
export interface DemoWiring {
  transports: Transport[];
  registry: StaticRegistry;
  /** Where the supplier and the ERP are, in a line. */
  description: string;
  /** Starts the services that need it (the Kafka supplier joins its group); run beside `coordinator.start()`. */
  start(): Promise<void>;
  /** Stops the services and servers the wiring started; call after `coordinator.close()`. */
  close(): Promise<void>;
}

/** Kafka settings of the demo; tests pass fast consumer settings and unique names. */
export interface DemoKafkaOptions {
  brokers: string[];
  /** Prefix of topic and group names. @default 'psi-procurement-demo' */
  prefix?: string;
  /** Extra connection and consumer settings for both the transport and the supplier. */
  settings?: Omit<KafkaTransportOptions, 'brokers' | 'groupId' | 'replyTopics'>;
}

/**
 * Builds the demo's plumbing for `transport`:
 * - `in-process`: supplier and ERP are objects in this process.
 * - `http`: supplier and ERP are HTTP services on 127.0.0.1 (random port); PSI sends through
 *   HttpTransport and receives the supplier's confirmation on an HttpInboundServer (random port).
 * - `kafka`: the supplier is a KafkaServiceHost consuming `<prefix>-supplier-requests` and
 *   answering to `<prefix>-replies`, which PSI's KafkaTransport consumes in group `<prefix>-psi`.
 *   The ERP answers synchronously, which Kafka cannot, so it stays in-process.
 */
export async function createDemoWiring(
  transport: DemoTransport,
  kafka?: DemoKafkaOptions,
): Promise<DemoWiring> {
  switch (transport) {
    case 'in-process':
      return {
        transports: [
          new InProcessTransport()
            .register('supplier', createSupplier())
            .register('erp', createErp()),
        ],
        registry: new StaticRegistry({
          supplier: {
            transport: 'in-process',
            address: 'supplier',
            parkingTtlMs: SUPPLIER_PARKING_TTL_MS,
          },
          erp: { transport: 'in-process', address: 'erp' },
        }),
        description: 'supplier and ERP in-process',
        start: async () => undefined,
        close: async () => undefined,
      };
    case 'http':
      return httpWiring();
    case 'kafka':
      if (!kafka || kafka.brokers.length === 0) {
        throw new Error('The kafka wiring needs brokers (KAFKA_BROKERS or --brokers).');
      }
      return kafkaWiring(kafka);
  }
}

async function httpWiring(): Promise<DemoWiring> {
  const transport = new HttpTransport({ defaultTimeoutMs: 5_000 });
  const inbound = new HttpInboundServer({ sink: transport.inboundSink });
  const { url: inboundUrl } = await inbound.start();
  const services = await startHttpServices().catch(async (error: unknown) => {
    await inbound.close();
    throw error;
  });
  return {
    transports: [transport],
    registry: new StaticRegistry({
      supplier: {
        transport: 'http',
        address: `${services.url}/supplier`,
        replyAddress: `${inboundUrl}/messages`,
        parkingTtlMs: SUPPLIER_PARKING_TTL_MS,
      },
      erp: { transport: 'http', address: `${services.url}/erp` },
    }),
    description:
      `supplier and ERP over HTTP at ${services.url}; ` +
      `answers to PSI's inbound server at ${inboundUrl}/messages`,
    start: async () => undefined,
    async close() {
      await services.close();
      await inbound.close();
    },
  };
}

async function kafkaWiring(options: DemoKafkaOptions): Promise<DemoWiring> {
  const prefix = options.prefix ?? 'psi-procurement-demo';
  const requestTopic = `${prefix}-supplier-requests`;
  const replyTopic = `${prefix}-replies`;
  const settings: Omit<KafkaTransportOptions, 'brokers' | 'groupId' | 'replyTopics'> = {
    clientId: 'psi-procurement-demo',
    logLevel: 'error',
    // One short line per kafkajs error instead of its JSON entries with stack traces.
    logCreator: () => (entry) => console.error(`[kafka ${entry.label}] ${entry.log.message}`),
    connectionTimeoutMs: 3_000,
    // Fail within seconds when the brokers are wrong, instead of kafkajs' long default retries.
    retry: { retries: 3, initialRetryTime: 300, maxRetryTime: 2_000 },
    // A short session: a group whose members left rejoins quickly on the next run (6 s is the
    // least a real broker accepts by default).
    consumer: { maxWaitTimeInMs: 200, sessionTimeout: 6_000, heartbeatInterval: 1_000 },
    ...options.settings,
  };
  const transport = new KafkaTransport({
    ...settings,
    brokers: options.brokers,
    groupId: `${prefix}-psi`,
    replyTopics: [replyTopic],
  });
  const supplier = new KafkaServiceHost({
    ...settings,
    brokers: options.brokers,
    requestTopic,
    groupId: `${prefix}-supplier`,
    handler: async (request, context) => {
      if (request.operation !== 'placeOrder') return; // not ours: acknowledge and ignore
      await context.respond(ORDER_CONFIRMED, confirmationFor(request.payload as PurchaseOrder));
    },
  });
  return {
    transports: [transport, new InProcessTransport().register('erp', createErp())],
    registry: new StaticRegistry({
      supplier: {
        transport: 'kafka',
        address: requestTopic,
        replyAddress: replyTopic,
        parkingTtlMs: SUPPLIER_PARKING_TTL_MS,
      },
      erp: { transport: 'in-process', address: 'erp' },
    }),
    description:
      `supplier over Kafka (${options.brokers.join(',')}: requests on ${requestTopic}, ` +
      `answers on ${replyTopic}); ERP in-process (Kafka has no synchronous replies)`,
    start: () =>
      supplier.start().catch((error: unknown) => {
        throw new DemoSetupError(
          `The Kafka supplier could not start on ${options.brokers.join(',')}: ` +
            `${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }),
    close: () => supplier.stop(),
  };
}
