import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  PsiError,
  PsiErrorCode,
  type OutboundRequest,
  type ServiceCoordinates,
  type TransportBusinessError,
} from '@psi/core';
import { AdaptersErrorCode } from '../errors';
import { RecordingSink } from '../testing';
import { HttpTransport } from './http.transport';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

type Handler = (req: Seen, res: ServerResponse) => void;

/** A real loopback HTTP server whose answer each test scripts. */
class ScriptedServer {
  readonly seen: Seen[] = [];
  connections = 0;
  handler: Handler = (_req, res) => res.end();
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: text ? (JSON.parse(text) as unknown) : undefined,
      };
      this.seen.push(seen);
      this.handler(seen, res);
    });
  });

  constructor() {
    this.server.on('connection', () => (this.connections += 1));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function respond(status: number, body?: string, contentType = 'application/json'): Handler {
  return (_req, res) => {
    res.writeHead(status, body === undefined ? {} : { 'content-type': contentType });
    res.end(body);
  };
}

async function failure(promise: Promise<unknown>): Promise<PsiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!PsiError.is(error)) throw new Error(`expected a PsiError, got ${String(error)}`);
  return error;
}

describe(HttpTransport, () => {
  let server: ScriptedServer;
  let address: string;
  let transport: HttpTransport;
  let sequence = 0;

  const request = (overrides: Partial<OutboundRequest> = {}): OutboundRequest => ({
    requestId: `req-${++sequence}`,
    correlationKey: `corr-${sequence}`,
    service: 'erp',
    operation: 'insertOrder',
    payload: { orderNo: 'PO-1' },
    ...overrides,
  });
  const coordinates = (overrides: Partial<ServiceCoordinates> = {}): ServiceCoordinates => ({
    service: 'erp',
    transport: 'http',
    address: `${address}/erp`,
    ...overrides,
  });

  beforeEach(async () => {
    server = new ScriptedServer();
    address = await server.listen();
    transport = new HttpTransport();
    await transport.start(new RecordingSink());
  });

  afterEach(async () => {
    await transport.stop();
    await server.close();
  });

  describe('.send', () => {
    it('POSTs JSON { operation, payload } to address/operation with the PSI headers', async () => {
      server.handler = respond(202);
      const req = request();

      await transport.send(req, coordinates({ replyAddress: 'http://psi.local/messages' }));

      expect(server.seen).toEqual([
        {
          method: 'POST',
          url: '/erp/insertOrder',
          headers: expect.objectContaining({
            'content-type': 'application/json',
            'x-psi-correlation-key': req.correlationKey,
            'x-psi-message-id': req.requestId,
            'x-psi-operation': 'insertOrder',
            'x-psi-reply-to': 'http://psi.local/messages',
          }),
          body: { operation: 'insertOrder', payload: { orderNo: 'PO-1' } },
        },
      ]);
    });

    it('prefers the request`s replyTo, tolerates a trailing slash, and escapes the operation', async () => {
      server.handler = respond(202);

      await transport.send(
        request({ replyTo: 'http://other/messages', operation: 'a b' }),
        coordinates({ address: `${address}/erp/`, replyAddress: 'http://psi.local/messages' }),
      );

      expect(server.seen[0]).toMatchObject({
        url: '/erp/a%20b',
        headers: { 'x-psi-reply-to': 'http://other/messages' },
      });
    });

    it('sends no reply-to header when there is no reply address', async () => {
      server.handler = respond(202);

      await transport.send(request(), coordinates());

      expect(server.seen[0]!.headers).not.toHaveProperty('x-psi-reply-to');
    });

    it('POSTs to the address itself, with extra headers, when so configured', async () => {
      const plain = new HttpTransport({
        appendOperationToPath: false,
        headers: { authorization: 'Bearer abc' },
      });
      server.handler = respond(202);

      await plain.send(request(), coordinates());
      await plain.stop();

      expect(server.seen[0]).toMatchObject({
        url: '/erp',
        headers: { authorization: 'Bearer abc' },
      });
    });

    it.each([
      [200, '{"ok":true}', 'application/json', { kind: 'reply', payload: { ok: true } }],
      [201, '{"id":7}', 'application/problem+json', { kind: 'reply', payload: { id: 7 } }],
      [200, 'plain words', 'text/plain', { kind: 'reply', payload: 'plain words' }],
      [200, undefined, undefined, { kind: 'reply', payload: undefined }],
      [204, undefined, undefined, { kind: 'reply', payload: undefined }],
      [202, undefined, undefined, { kind: 'accepted' }],
      [202, '{"queued":true}', 'application/json', { kind: 'accepted' }],
    ])('maps HTTP %i with body %s (%s) to %j', async (status, body, contentType, expected) => {
      server.handler = respond(status, body, contentType);

      await expect(transport.send(request(), coordinates())).resolves.toEqual(expected);
    });

    it.each([
      [400, '{"field":"orderNo"}', { field: 'orderNo' }],
      [404, 'no such thing', 'no such thing'],
      [409, '{"reason":"duplicate"}', { reason: 'duplicate' }],
      [422, undefined, undefined],
    ])('maps HTTP %i to a business error with status and body', async (status, body, expected) => {
      server.handler = respond(
        status,
        body,
        body?.startsWith('{') ? 'application/json' : 'text/plain',
      );

      const error = await failure(transport.send(request(), coordinates()));

      expect(error.code).toBe(PsiErrorCode.TransportBusiness);
      expect(error).toMatchObject({
        status,
        body: expected,
      } satisfies Partial<TransportBusinessError>);
    });

    it.each([[500], [502], [503], [408], [429], [302]])(
      'maps HTTP %i to a technical error',
      async (status) => {
        server.handler = respond(status, '{"error":"boom"}');

        const error = await failure(transport.send(request(), coordinates()));

        expect(error.code).toBe(PsiErrorCode.TransportTechnical);
        expect(error.message).toContain(`HTTP ${status}`);
      },
    );

    it('fails technically on a 2xx with malformed JSON', async () => {
      server.handler = respond(200, '{"ok":');

      const error = await failure(transport.send(request(), coordinates()));

      expect(error.code).toBe(PsiErrorCode.TransportTechnical);
      expect(error.message).toContain('malformed JSON');
    });

    it('fails technically when the connection is refused', async () => {
      const closed = new ScriptedServer();
      const deadAddress = await closed.listen();
      await closed.close();

      const error = await failure(transport.send(request(), coordinates({ address: deadAddress })));

      expect(error.code).toBe(PsiErrorCode.TransportTechnical);
      expect(error.message).toContain('ECONNREFUSED');
      expect(error.cause).toBeDefined();
    });

    it('fails technically after the per-service timeout', async () => {
      server.handler = () => {}; // never answers

      const error = await failure(transport.send(request(), coordinates({ timeoutMs: 50 })));

      expect(error.code).toBe(PsiErrorCode.TransportTechnical);
      expect(error.message).toContain('timed out after 50 ms');
    });

    it('fails technically after the default timeout when the coordinates name none', async () => {
      const impatient = new HttpTransport({ defaultTimeoutMs: 50 });
      server.handler = () => {};

      const error = await failure(impatient.send(request(), coordinates()));
      await impatient.stop();

      expect(error.message).toContain('timed out after 50 ms');
    });

    it('reuses keep-alive connections for sequential requests', async () => {
      server.handler = respond(200, '{"ok":true}');

      for (let i = 0; i < 10; i++) await transport.send(request(), coordinates());

      expect(server.seen).toHaveLength(10);
      // undici may open a second socket while the first is being released; never one per request.
      expect(server.connections).toBeLessThanOrEqual(2);
    });
  });

  describe('.stop', () => {
    it('refuses new sends until started again', async () => {
      server.handler = respond(200, '{"ok":true}');
      await transport.stop();

      const error = await failure(transport.send(request(), coordinates()));
      await transport.start(new RecordingSink());

      expect(error.code).toBe(PsiErrorCode.TransportTechnical);
      await expect(transport.send(request(), coordinates())).resolves.toEqual({
        kind: 'reply',
        payload: { ok: true },
      });
    });

    it('aborts a request still in flight after the grace period, as a technical error', async () => {
      const quick = new HttpTransport({ stopGraceMs: 20 });
      let arrived!: () => void;
      const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
      server.handler = () => arrived(); // never answers
      const sending = failure(quick.send(request(), coordinates()));
      await requestArrived;

      await quick.stop();

      const error = await sending;
      expect(error.code).toBe(PsiErrorCode.TransportTechnical);
      expect(error.message).toContain('transport stopped');
    });

    it('lets a request in flight finish within the grace period', async () => {
      let answer!: () => void;
      let arrived!: () => void;
      const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
      server.handler = (_req, res) => {
        answer = () => respond(200, '{"late":true}')(_req, res);
        arrived();
      };
      const sending = transport.send(request(), coordinates());
      await requestArrived;

      const stopping = transport.stop();
      answer();

      await expect(sending).resolves.toEqual({ kind: 'reply', payload: { late: true } });
      await stopping;
    });
  });

  describe('.inboundSink', () => {
    it('forwards to the sink given to start', async () => {
      const sink = new RecordingSink();
      await transport.start(sink);

      const outcome = await transport.inboundSink.receive({ event: 'e', payload: 1 });

      expect(outcome).toEqual({ status: 'parked', parkedId: 'recorded-0' });
      expect(sink.messages).toEqual([{ event: 'e', payload: 1 }]);
    });

    it('refuses messages while stopped', async () => {
      await transport.stop();

      const error = await failure(transport.inboundSink.receive({ event: 'e', payload: 1 }));

      expect(error.code).toBe(AdaptersErrorCode.InboundUnavailable);
    });

    it('lets a message being received finish before stop resolves', async () => {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const sink = new RecordingSink({
        outcome: async () => {
          await released;
          return { status: 'duplicate' };
        },
      });
      await transport.start(sink);
      const receiving = transport.inboundSink.receive({ event: 'e', payload: 1 });
      let stopped = false;
      const stopping = transport.stop().then(() => (stopped = true));

      await new Promise((resolve) => setImmediate(resolve));
      expect(stopped).toBe(false);
      release();

      await expect(receiving).resolves.toEqual({ status: 'duplicate' });
      await stopping;
      expect(sink.messages).toHaveLength(1);
    });
  });
});
