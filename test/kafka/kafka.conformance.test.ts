import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { KafkaServiceHost, KafkaTransport } from '@psi/adapters';
import {
  CONFORMANCE_REFUSAL_EVENT,
  ConformanceFailure,
  describeTransportConformance,
  type ConformanceService,
  type TransportConformanceHarness,
} from '@psi/adapters/testing';
import type { ServiceCoordinates } from '@psi/core';
import { fastOptions, uniqueName, useMockKafka } from './kafka-test-kit';

// Group joins on the mock take ~3 s; the stop case joins twice.
jest.setTimeout(60_000);

const kafka = useMockKafka();

/**
 * The Kafka harness: each hosted service is a KafkaServiceHost on its own request topic (its own
 * consumer group); answers go to the transport's reply topic. Kafka has no synchronous replies,
 * and a service's failure is not part of the exchange: a request whose handler throws stays
 * uncommitted and is handled again; a refusal is an answer event.
 */
describeTransportConformance(
  'kafka',
  { syncReply: false, serviceFailures: 'redelivery' },
  async (): Promise<TransportConformanceHarness> => {
    const cluster = kafka.cluster;
    const replyTopic = uniqueName('psi-replies');
    const requestTopics = new Map<string, string>();
    const topicFor = (service: string): string => {
      let topic = requestTopics.get(service);
      if (!topic) {
        topic = uniqueName(`${service}-requests`);
        requestTopics.set(service, topic);
      }
      return topic;
    };
    const hosts: KafkaServiceHost[] = [];
    const transport = new KafkaTransport({
      ...fastOptions(cluster),
      groupId: uniqueName('psi'),
      replyTopics: [replyTopic],
    });
    await kafka.probe.ensureTopics([replyTopic]);
    const closedPort = await freePortNobodyListensOn();
    const coordinates = (service: string): ServiceCoordinates => ({
      service,
      transport: 'kafka',
      address: topicFor(service),
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
      async hostService(service, operations) {
        const requestTopic = topicFor(service);
        await kafka.probe.ensureTopics([requestTopic]);
        const host = new KafkaServiceHost({
          ...fastOptions(cluster),
          requestTopic,
          groupId: uniqueName(`${service}-service`),
          onError: () => undefined, // failures are redelivered by design here
          handler: async (request, context) => {
            const operation = operationOf(operations, request.operation);
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
        hosts.push(host);
        await host.start();
      },
      async teardown() {
        await Promise.all(hosts.map((host) => host.stop()));
      },
    };
  },
);

function operationOf(
  operations: ConformanceService,
  name: string | undefined,
): ConformanceService[string] {
  const operation = name === undefined ? undefined : operations[name];
  if (!operation) throw new Error(`The test service has no operation "${String(name)}".`);
  return operation;
}

async function freePortNobodyListensOn(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
