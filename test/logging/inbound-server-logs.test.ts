/**
 * Issue 18, logs: the inbound HTTP server's fastify writes its request log to the logger PSI
 * is given (the coordinator's), behind PSI's redaction, over real HTTP on loopback; so do the
 * server's own reports. No body, no Authorization header, no callback token reaches a line.
 */
import { randomBytes } from 'node:crypto';
import { CallbackTokenService, HttpInboundServer } from '@psi/adapters';
import { RecordingSink } from '@psi/adapters/testing';
import pino from 'pino';
import { request } from 'undici';

const BEARER = 'inbound-bearer-token-0123456789';
const SECRET_IN_BODY = 'card-4111-1111';

interface Line {
  level: number;
  msg: string;
  component?: string;
  reqId?: string;
  req?: { method?: string; url?: string; headers?: unknown };
  res?: { statusCode?: number };
  err?: { message?: string };
  [key: string]: unknown;
}

describe('inbound server logs (pino, loopback HTTP)', () => {
  let server: HttpInboundServer | undefined;
  afterEach(() => server?.close());

  async function start(
    sink: RecordingSink,
  ): Promise<{ url: string; lines: () => Line[]; raw: string[] }> {
    const raw: string[] = [];
    const logger = pino({ level: 'info' }, { write: (chunk: string) => void raw.push(chunk) });
    const tokens = new CallbackTokenService({ keys: [{ id: 'k1', secret: randomBytes(32) }] });
    server = new HttpInboundServer({ sink, tokens, bearerToken: BEARER, logger });
    const { url } = await server.start();
    return {
      url,
      raw,
      lines: () => raw.map((line) => JSON.parse(line) as Line),
    };
  }

  it('logs each request and its response through the given logger, without bodies, headers or tokens', async () => {
    const { url, raw, lines } = await start(new RecordingSink());
    const answer = await request(`${url}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${BEARER}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        event: 'shipped',
        correlationKey: 'ck-1',
        payload: { card: SECRET_IN_BODY },
      }),
    });
    expect(answer.statusCode).toBe(202);
    await answer.body.text();
    const callback = await request(`${url}/callbacks/not-a-valid-token-but-secret`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'shipped', data: { card: SECRET_IN_BODY } }),
    });
    await callback.body.text();

    const requests = lines().filter((l) => l.msg === 'incoming request');
    const responses = lines().filter((l) => l.msg === 'request completed');
    expect(requests.map((l) => [l.component, l.req?.method, l.req?.url])).toEqual([
      ['psi-http', 'POST', '/messages'],
      ['psi-http', 'POST', '/callbacks/[redacted]'],
    ]);
    expect(responses.map((l) => [l.component, l.res?.statusCode])).toEqual([
      ['psi-http', 202],
      ['psi-http', callback.statusCode],
    ]);
    // A request and its response share fastify's request id.
    expect(responses.map((l) => l.reqId)).toEqual(requests.map((l) => l.reqId));
    expect(requests.every((l) => l.req?.headers === undefined)).toBe(true);
    const everything = raw.join('');
    expect(everything).not.toContain(BEARER);
    expect(everything).not.toContain(SECRET_IN_BODY);
    expect(everything).not.toContain('not-a-valid-token-but-secret');
  });

  it("writes the server's own reports (a 500 with its error) to the same logger", async () => {
    const { url, lines } = await start(
      new RecordingSink({
        outcome: () => {
          throw new Error('the store is down');
        },
      }),
    );
    const answer = await request(`${url}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${BEARER}`, 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'shipped', correlationKey: 'ck-1', payload: {} }),
    });
    expect(answer.statusCode).toBe(500);
    await answer.body.text();
    const report = lines().find((l) => l.msg === '500 on POST /messages: unexpected error');
    expect(report).toMatchObject({
      level: 50,
      component: 'psi-http',
      err: { message: 'the store is down' },
    });
  });
});
