/**
 * Issue 16, items 15–17, against the HttpInboundServer over real sockets on loopback: timeouts,
 * a connection cap, a per-source rate limit, error bodies that never repeat the request, no
 * server without authentication unless told so, and callback tokens redacted in every log.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import {
  AdaptersErrorCode,
  CallbackTokenService,
  DEFAULT_RATE_LIMIT,
  HttpInboundServer,
  type HttpInboundServerOptions,
} from '@psi/adapters';
import { RecordingSink } from '@psi/adapters/testing';
import { InMemoryEngineStateRepository, PsiError } from '@psi/core';
import { defineProcess, ReferenceEngine } from '@psi/engines';
import { Agent, request } from 'undici';

jest.setTimeout(60_000);

const MARKER = 'echo-marker-3k';

/** A raw connection: everything it received, and a promise for its end. */
interface RawConnection {
  socket: Socket;
  received(): string;
  closed: Promise<void>;
}

function openRaw(url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: hostname, port: Number(port) });
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined); // a reset by the server is what some tests expect
    socket.once('connect', () =>
      resolve({ socket, received: () => Buffer.concat(chunks).toString('utf8'), closed }),
    );
    socket.once('error', reject);
  });
}

/** Resolves when `promise` does, or fails naming `what` after `ms` (a deadline, not a sleep). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The JSON body of a raw HTTP/1.1 answer. */
function bodyOf(raw: string): Record<string, unknown> {
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
}

describe('HttpInboundServer limits', () => {
  const client = new Agent();
  const bearerToken = randomBytes(24).toString('base64url');
  const auth = { authorization: `Bearer ${bearerToken}` };
  let servers: HttpInboundServer[];
  let sink: RecordingSink;
  let logged: Array<{ level: string; message: string; detail?: unknown }>;
  const log = {
    warn: (message: string, detail?: unknown) => logged.push({ level: 'warn', message, detail }),
    error: (message: string, detail?: unknown) => logged.push({ level: 'error', message, detail }),
  };

  async function serve(
    options: Partial<HttpInboundServerOptions> = {},
  ): Promise<HttpInboundServer> {
    const server = new HttpInboundServer({ sink, bearerToken, log, ...options });
    servers.push(server);
    await server.start();
    return server;
  }

  async function post(
    url: string,
    body: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
    const response = await request(url, {
      method: 'POST',
      dispatcher: client,
      headers: { 'content-type': 'application/json', ...auth, ...headers },
      body,
    });
    return {
      status: response.statusCode,
      headers: response.headers,
      text: await response.body.text(),
    };
  }

  beforeEach(() => {
    servers = [];
    sink = new RecordingSink();
    logged = [];
  });

  afterEach(async () => {
    for (const server of servers) await server.close();
  });

  afterAll(() => client.close());

  describe('authentication (item 16)', () => {
    it('refuses to be created without a bearer token unless told it may run open', () => {
      let refusal: unknown;
      try {
        new HttpInboundServer({ sink, log });
      } catch (error) {
        refusal = error;
      }

      expect(PsiError.is(refusal) && refusal.code).toBe(AdaptersErrorCode.HttpConfigInvalid);
    });

    it('runs open only when told, and logs that it does', async () => {
      const server = await serve({ bearerToken: undefined, allowUnauthenticated: true });

      expect(logged).toEqual([
        {
          level: 'warn',
          message: expect.stringContaining('WITHOUT authentication'),
          detail: undefined,
        },
      ]);
      expect(server.settings.authenticated).toBe(false);
      expect(
        (await post(`${server.url}/messages`, '{"event":"e"}', { authorization: '' })).status,
      ).toBe(202);
    });

    it('answers 401 to /messages without the bearer token, handing nothing on', async () => {
      const server = await serve();

      const answer = await post(`${server.url}/messages`, '{"event":"e"}', { authorization: '' });

      expect(answer.status).toBe(401);
      expect(JSON.parse(answer.text)).toMatchObject({ code: AdaptersErrorCode.HttpUnauthorized });
      expect(sink.messages).toEqual([]);
      expect(logged).toEqual([]);
    });
  });

  describe('connections and rates (item 15)', () => {
    it('has safe defaults', async () => {
      const server = await serve();

      expect(server.settings).toMatchObject({
        authenticated: true,
        bodyLimitBytes: 1_048_576,
        maxHeaderBytes: 16_384,
        requestTimeoutMs: 30_000,
        headersTimeoutMs: 10_000,
        keepAliveTimeoutMs: 5_000,
        maxConnections: 512,
        rateLimit: { requestsPerSecond: 100, burst: 200, maxSources: 10_000 },
        limits: { maxEventBytes: 200, maxIdBytes: 512, maxBusinessKeyBytes: 1024, maxDepth: 32 },
      });
      expect(DEFAULT_RATE_LIMIT).toEqual({
        requestsPerSecond: 100,
        burst: 200,
        maxSources: 10_000,
      });
    });

    it('answers 408 and closes connections that drip a body or never finish their headers', async () => {
      const server = await serve({ requestTimeoutMs: 1_000, headersTimeoutMs: 500 });
      const drips: NodeJS.Timeout[] = [];
      try {
        const bodies = await Promise.all(
          Array.from({ length: 20 }, async () => {
            const raw = await openRaw(server.url!);
            raw.socket.write(
              'POST /messages HTTP/1.1\r\nHost: psi\r\nContent-Type: application/json\r\n' +
                `Authorization: Bearer ${bearerToken}\r\nContent-Length: 100000\r\n\r\n{`,
            );
            drips.push(setInterval(() => raw.socket.writable && raw.socket.write(' '), 50));
            return raw;
          }),
        );
        const headers = await Promise.all(
          Array.from({ length: 5 }, async () => {
            const raw = await openRaw(server.url!);
            raw.socket.write('POST /messages HTTP/1.1\r\nHost: psi\r\n');
            return raw;
          }),
        );

        for (const raw of [...bodies, ...headers]) {
          await within(raw.closed, 15_000, 'the server closes a slow request');
          expect(raw.received()).toMatch(/^HTTP\/1\.1 408 /);
          expect(bodyOf(raw.received())).toEqual({
            code: AdaptersErrorCode.HttpRequestTimeout,
            message: expect.any(String),
          });
        }
        expect(sink.messages).toEqual([]);
      } finally {
        drips.forEach(clearInterval);
      }
    });

    it('closes connections beyond maxConnections at once, logs it, and serves again below it', async () => {
      const server = await serve({ maxConnections: 5 });
      const holders = [];
      for (let i = 0; i < 5; i++) {
        const raw = await openRaw(server.url!);
        raw.socket.write('POST /messages HTTP/1.1\r\nHost: psi\r\n'); // holds the connection
        holders.push(raw);
      }

      const refused = await openRaw(server.url!);

      await within(refused.closed, 10_000, 'the sixth connection is closed');
      expect(refused.received()).toBe('');
      expect(holders.every((raw) => !raw.socket.destroyed)).toBe(true);
      expect(logged).toContainEqual({
        level: 'warn',
        message: expect.stringContaining('maxConnections (5)'),
        detail: undefined,
      });
      for (const raw of holders) raw.socket.destroy();
      await Promise.all(holders.map((raw) => raw.closed));
      // Below the cap again: served (the server counts a closed connection out at once).
      const answer = await within(
        (async () => {
          for (;;) {
            const response = await post(`${server.url}/messages`, '{"event":"e"}').catch(
              () => undefined,
            );
            if (response) return response;
          }
        })(),
        10_000,
        'a request is served again',
      );
      expect(answer.status).toBe(202);
    });

    it('limits requests per source: 429 with Retry-After, and hands nothing on', async () => {
      // Tokens come back once per 100 s: the eleventh request on is over the limit, whatever
      // the machine's speed.
      const server = await serve({ rateLimit: { requestsPerSecond: 0.01, burst: 10 } });

      const answers = [];
      for (let i = 0; i < 15; i++) {
        answers.push(await post(`${server.url}/messages`, JSON.stringify({ event: `e-${i}` })));
      }

      expect(answers.map((a) => a.status)).toEqual([...Array(10).fill(202), ...Array(5).fill(429)]);
      const limited = answers.at(-1)!;
      expect(limited.headers['retry-after']).toBe('100');
      expect(JSON.parse(limited.text)).toEqual({
        code: AdaptersErrorCode.HttpRateLimited,
        message: expect.any(String),
        retryAfterSeconds: 100,
      });
      expect(sink.messages).toHaveLength(10);
    });
  });

  describe('error bodies (item 15)', () => {
    const waiting = defineProcess({
      id: 'waiting',
      start: 'review',
      steps: { review: { kind: 'wait', transitions: { ok: 'done' } }, done: { kind: 'end' } },
    });

    it('are { code, message } and never repeat the request, 414 and 431 included', async () => {
      const engine = new ReferenceEngine({
        definitions: [waiting],
        stateRepository: new InMemoryEngineStateRepository(),
      });
      await engine.start('waiting', {}, { instanceId: 'i-1' });
      const tokens = new CallbackTokenService({ keys: [{ id: 'k1', secret: randomBytes(32) }] });
      const server = await serve({ engine, tokens, maxHeaderBytes: 8_192 });
      const url = server.url!;
      const raw = async (text: string): Promise<string> => {
        const connection = await openRaw(url);
        connection.socket.write(text);
        await within(connection.closed, 10_000, 'the server answers and closes');
        return connection.received();
      };
      const cases: Array<[string, number, () => Promise<{ status: number; text: string }>]> = [
        ['unknown path', 404, () => post(`${url}/nowhere-${MARKER}`, '{}')],
        ['overlong token', 414, () => post(`${url}/callbacks/${MARKER}${'x'.repeat(5_000)}`, '{}')],
        [
          'oversized headers',
          431,
          async () => {
            const text = await raw(
              `POST /messages HTTP/1.1\r\nHost: psi\r\nX-Junk: ${MARKER}${'h'.repeat(10_000)}\r\n\r\n`,
            );
            return {
              status: Number(text.slice(9, 12)),
              text: text.slice(text.indexOf('\r\n\r\n')),
            };
          },
        ],
        ['broken JSON', 400, () => post(`${url}/messages`, `{"event":"${MARKER}",`)],
        [
          'wrong content type',
          415,
          () => post(`${url}/messages`, MARKER, { 'content-type': `text/${MARKER}` }),
        ],
        [
          'wrong bearer token',
          401,
          () => post(`${url}/messages`, '{}', { authorization: `Bearer ${MARKER}` }),
        ],
        [
          'forged callback token',
          401,
          () => post(`${url}/callbacks/${MARKER}.k1.${'A'.repeat(43)}`, '{}'),
        ],
        [
          'unknown instance',
          404,
          () => post(`${url}/instances/${MARKER}/signal`, '{"waitState":"review"}'),
        ],
        [
          'wrong wait state',
          409,
          () => post(`${url}/instances/i-1/signal`, JSON.stringify({ waitState: MARKER })),
        ],
        [
          'unknown transition',
          409,
          () =>
            post(
              `${url}/instances/i-1/signal`,
              JSON.stringify({ waitState: 'review', transition: MARKER }),
            ),
        ],
        [
          'overlong wait state',
          400,
          () =>
            post(
              `${url}/instances/i-1/signal`,
              JSON.stringify({ waitState: MARKER + 'w'.repeat(600) }),
            ),
        ],
      ];

      for (const [name, status, send] of cases) {
        const answer = await send();
        const body = JSON.parse(answer.text) as Record<string, unknown>;
        expect({ name, status: answer.status }).toEqual({ name, status });
        expect({ name, code: typeof body.code, message: typeof body.message }).toEqual({
          name,
          code: 'string',
          message: 'string',
        });
        expect({ name, echoed: answer.text.includes(MARKER) }).toEqual({ name, echoed: false });
      }
      expect(await engine.getInstance('i-1')).toMatchObject({ currentStep: 'review' });
      await engine.stop();
    });
  });

  describe('logs (item 17)', () => {
    it('redact callback tokens, in fastify`s access log and in PSI`s own log, and log every 5xx', async () => {
      const tokens = new CallbackTokenService({ keys: [{ id: 'k1', secret: randomBytes(32) }] });
      const lines: string[] = [];
      sink = new RecordingSink({
        outcome: (message) => {
          if (message.event === 'failed') throw new Error('store unreachable');
          return { status: 'parked', parkedId: 'p-1' };
        },
      });
      const server = await serve({
        tokens,
        logger: { stream: { write: (line) => lines.push(line) } },
      });
      const token = tokens.issue({
        instanceId: 'i-1',
        waitState: 'running',
        correlationKey: 'corr-1',
        events: ['done', 'failed'],
        ttlMs: 60_000,
      });
      const signature = token.split('.')[2]!;

      expect((await post(`${server.url}/callbacks/${token}`, '{"event":"done"}')).status).toBe(202);
      expect((await post(`${server.url}/callbacks/${token}`, '{"event":"failed"}')).status).toBe(
        500,
      );
      expect((await post(`${server.url}/callbacks/${token}?x=1`, '{"event":"nope"}')).status).toBe(
        403,
      );
      expect(
        (await post(`${server.url}/callbacks/${token}${'x'.repeat(5_000)}`, '{}')).status,
      ).toBe(414);
      expect((await post(`${server.url}/callbacks/${token}/more`, '{}')).status).toBe(404);

      const everything = [...lines, ...logged.map((entry) => JSON.stringify(entry))].join('\n');
      expect(lines.length).toBeGreaterThan(5);
      expect(everything).not.toContain(signature);
      expect(everything).toContain('/callbacks/[redacted]');
      expect(logged).toContainEqual({
        level: 'error',
        message: expect.stringMatching(/^500 on POST \/callbacks\/\[redacted\]/),
        detail: expect.objectContaining({ message: 'store unreachable' }),
      });
    });
  });
});
