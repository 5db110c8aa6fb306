import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { KafkaServiceHost, KafkaTransport } from '@psi/adapters/kafka';
import {
  CONFORMANCE_REFUSAL_EVENT,
  ConformanceFailure,
  describeTransportConformance,
  type ConformanceOperation,
  type TransportConformanceHarness,
} from '@psi/adapters/testing';
import type { ServiceCoordinates } from '@psi/core';
import { fastOptions, uniqueName, useMockKafka } from './kafka-test-kit';

// Group joins on the mock take ~3 s; the stop case joins twice.
jest.setTimeout(60_000);

const kafka = useMockKafka();

/**
 * The Kafka harness: the hosted services live behind one KafkaServiceHost per test, on one
 * request topic, dispatching by operation (operation names are unique across the suite's
 * services); it starts in the factory, so its group join overlaps the transport's. Answers go to
 * the transport's reply topic. Kafka has no synchronous replies, and a service's failure is not
 * part of the exchange: a request whose handler throws stays uncommitted and is handled again; a
 * refusal is an answer event.
 */
describeTransportConformance(
  'kafka',
  { syncReply: false, serviceFailures: 'redelivery' },
  async (): Promise<TransportConformanceHarness> => {
    const cluster = kafka.cluster;
    const replyTopic = uniqueName('psi-replies');
    const requestTopic = uniqueName('services-requests');
    await kafka.probe.ensureTopics([replyTopic, requestTopic]);
    const operations = new Map<string, { service: string; operation: ConformanceOperation }>();
    const host = new KafkaServiceHost({
      ...fastOptions(cluster),
      requestTopic,
      groupId: uniqueName('services'),
      onError: () => undefined, // failures are redelivered by design here
      handler: async (request, context) => {
        const operation = operations.get(request.operation ?? '')?.operation;
        if (!operation) throw new Error(`No test service has operation "${request.operation}".`);
        let result: unknown;
        try {
          result = await operation(request.payload, {
            correlationKey: request.correlationKey ?? '',
            requestId: request.requestId,
            operation: request.operation ?? '',
            respondLater: (event, payload, options) => context.respond(event, payload, options),
          });
        } catch (error) {
          if (error instanceof ConformanceFailure && error.kind === 'business') {
            await context.respond(CONFORMANCE_REFUSAL_EVENT, error.body);
            return;
          }
          throw error; // not committed: the request comes again
        }
        if (result !== undefined) {
          throw new Error('Kafka has no synchronous replies: answer with respondLater.');
        }
      },
    });
    const hostStarted = host.start();
    hostStarted.catch(() => undefined); // awaited by hostService and teardown
    const transport = new KafkaTransport({
      ...fastOptions(cluster),
      groupId: uniqueName('psi'),
      replyTopics: [replyTopic],
    });
    const closedPort = await freePortNobodyListensOn();
    const coordinates = (service: string): ServiceCoordinates => ({
      service,
      transport: 'kafka',
      address: requestTopic,
      timeoutMs: 10_000,
    });

    return {
      transport,
      waitTimeoutMs: 25_000,
      coordinates,
      unreachableCoordinates: (service) => ({ ...coordinates(service), timeoutMs: 5_000 }),
      // The brokers are not part of Kafka coordinates: a transport pointing at a closed port.
      unreachableTransport: () =>
        new KafkaTransport({
          brokers: [`127.0.0.1:${closedPort}`],
          clientId: 'psi-test-unreachable',
          logLevel: 'nothing',
          connectionTimeoutMs: 500,
          retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 200 },
        }),
      async hostService(service, hosted) {
        for (const [name, operation] of Object.entries(hosted)) {
          const taken = operations.get(name);
          if (taken && taken.service !== service) {
            throw new Error(`Operation "${name}" is hosted by "${taken.service}" already.`);
          }
          operations.set(name, { service, operation });
        }
        await hostStarted;
      },
      async teardown() {
        await hostStarted.catch(() => undefined);
        await host.stop();
      },
    };
  },
);

async function freePortNobodyListensOn(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
