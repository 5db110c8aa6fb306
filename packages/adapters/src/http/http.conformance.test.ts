import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import {
  ConformanceFailure,
  describeTransportConformance,
  type ConformanceService,
  type TransportConformanceHarness,
} from '../testing';
import { HttpInboundServer } from './http-inbound.server';
import { HttpTransport } from './http.transport';

/**
 * The HTTP harness: test services live on a real node:http server on loopback
 * (`POST /<service>/<operation>`); they answer asynchronously the way a real service would, by
 * POSTing to the `x-psi-reply-to` address, which is an HttpInboundServer's `/messages`.
 */
describeTransportConformance(
  'http',
  { syncReply: true, serviceFailures: 'send' },
  async (): Promise<TransportConformanceHarness> => {
    const transport = new HttpTransport({ stopGraceMs: 2_000 });
    const bearerToken = 'conformance-bearer-token-4f1c';
    const inbound = new HttpInboundServer({ sink: transport.inboundSink, bearerToken });
    const { url: inboundUrl } = await inbound.start();
    const services = new Map<string, ConformanceService>();
    const answers = new Agent();
    const server = createServer((req, res) => {
      handle(req, res).catch((error: unknown) => {
        res.statusCode = 500;
        res.end(String(error));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const closedPort = await freePortNobodyListensOn();

    async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const [, service = '', operationName = ''] = (req.url ?? '').split('/');
      const operation = services.get(service)?.[decodeURIComponent(operationName)];
      const body = JSON.parse(await readBody(req)) as { operation: string; payload: unknown };
      if (!operation) return json(res, 404, { error: `no operation ${req.url}` });
      const replyTo = String(req.headers['x-psi-reply-to']);
      const correlationKey = String(req.headers['x-psi-correlation-key']);
      try {
        const result = await operation(body.payload, {
          correlationKey,
          requestId: String(req.headers['x-psi-message-id']),
          operation: body.operation,
          respondLater: async (event, payload, options) => {
            const response = await request(replyTo, {
              method: 'POST',
              dispatcher: answers,
              headers: {
                'content-type': 'application/json',
                authorization: `Bearer ${bearerToken}`,
                ...(options?.messageId ? { 'x-psi-message-id': options.messageId } : {}),
              },
              body: JSON.stringify({ event, payload, correlationKey }),
            });
            const text = await response.body.text();
            if (response.statusCode !== 202) {
              throw new Error(`inbound server answered ${response.statusCode}: ${text}`);
            }
          },
        });
        if (result === undefined) return json(res, 202, { accepted: true });
        return json(res, 200, result);
      } catch (error) {
        if (error instanceof ConformanceFailure && error.kind === 'business') {
          return json(res, 422, error.body);
        }
        return json(res, error instanceof ConformanceFailure ? 503 : 500, { error: String(error) });
      }
    }

    return {
      transport,
      coordinates: (service) => ({
        service,
        transport: 'http',
        address: `${base}/${service}`,
        replyAddress: `${inboundUrl}/messages`,
      }),
      // A port that was free a moment ago and has nothing listening: connection refused.
      unreachableCoordinates: (service) => ({
        service,
        transport: 'http',
        address: `http://127.0.0.1:${closedPort}/${service}`,
        timeoutMs: 2_000,
      }),
      async hostService(service, operations) {
        services.set(service, operations);
      },
      async teardown() {
        await inbound.close();
        await answers.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
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

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
