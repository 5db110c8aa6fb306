import { randomBytes } from 'node:crypto';
import {
  EngineSignalRejectedError,
  InboundMessageError,
  InstanceNotFoundError,
  PsiError,
  PsiErrorCode,
  type EngineEventListener,
  type ProcessEngine,
  type SignalOptions,
  type Variables,
} from '@psi/core';
import { Agent, request } from 'undici';
import { CallbackTokenService } from '../callback/callback-token.service';
import { AdaptersErrorCode } from '../errors';
import { RecordingSink } from '../testing';
import { HttpInboundServer, type HttpInboundServerOptions } from './http-inbound.server';

/**
 * An engine whose instances sit in the wait states a test gives them; records signals, and
 * applies each signal id once, as the engine plugins do.
 */
class StubEngine implements ProcessEngine {
  readonly name = 'stub';
  readonly signals: Array<{ instanceId: string; waitState: string; options?: SignalOptions }> = [];
  private readonly applied = new Set<string>();
  constructor(readonly states: Map<string, string[]>) {}
  async hasAppliedSignal(instanceId: string, signalId: string): Promise<boolean> {
    return this.applied.has(`${instanceId}/${signalId}`);
  }
  async getVariables(): Promise<Variables> {
    return {};
  }
  async setVariables(): Promise<void> {}
  async getWaitStates(instanceId: string): Promise<readonly string[]> {
    return this.states.get(instanceId) ?? [];
  }
  async signal(instanceId: string, waitState: string, options?: SignalOptions): Promise<void> {
    const current = this.states.get(instanceId);
    if (!current) throw new InstanceNotFoundError(instanceId);
    if (!current.includes(waitState)) {
      throw new EngineSignalRejectedError(instanceId, waitState, current);
    }
    if (options?.transition === 'no-such-transition') {
      // What the engine plugins throw for a transition the wait state does not have.
      throw new PsiError('PSI_ENGINE_TRANSITION_UNKNOWN', `No transition "${options.transition}"`);
    }
    this.signals.push({ instanceId, waitState, options });
    if (options?.signalId) this.applied.add(`${instanceId}/${options.signalId}`);
    this.states.set(instanceId, ['next']);
  }
  subscribe(_listener: EngineEventListener): () => void {
    return () => {};
  }
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

describe(HttpInboundServer, () => {
  const client = new Agent();
  let server: HttpInboundServer | undefined;
  let url: string;
  let sink: RecordingSink;
  let engine: StubEngine;
  let clock: number;
  const tokens = new CallbackTokenService({
    keys: [{ id: 'k1', secret: randomBytes(32) }],
    now: () => clock,
  });

  let logged: Array<{ level: string; message: string }>;
  const log = {
    warn: (message: string) => logged.push({ level: 'warn', message }),
    error: (message: string) => logged.push({ level: 'error', message }),
  };

  /** Runs open unless the test gives a bearer token; PSI's own reports go to `logged`. */
  async function serve(options: Partial<HttpInboundServerOptions> = {}): Promise<void> {
    server = new HttpInboundServer({
      sink,
      engine,
      tokens,
      log,
      ...(options.bearerToken === undefined ? { allowUnauthenticated: true } : {}),
      ...options,
    });
    ({ url } = await server.start());
  }

  /** A token for i-1's visit of `scriptRunning` (correlation key corr-7), for `done`/`failed`. */
  const callbackToken = (ttlMs = 60_000): string =>
    tokens.issue({
      instanceId: 'i-1',
      waitState: 'scriptRunning',
      correlationKey: 'corr-7',
      events: ['done', 'failed'],
      ttlMs,
    });

  async function call(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const raw = typeof body === 'string' || body === undefined ? body : JSON.stringify(body);
    const response = await request(`${url}${path}`, {
      method,
      dispatcher: client,
      headers: raw === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: raw,
    });
    const text = await response.body.text();
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    return { status: response.statusCode, body: JSON.parse(text) as Record<string, unknown> };
  }

  beforeEach(() => {
    logged = [];
    clock = Date.now();
    sink = new RecordingSink();
    engine = new StubEngine(new Map([['i-1', ['scriptRunning']]]));
  });

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  afterAll(async () => {
    await client.close();
  });

  it('answers GET /health with 200', async () => {
    await serve();

    await expect(call('GET', '/health')).resolves.toEqual({ status: 200, body: { status: 'ok' } });
  });

  describe('POST /messages', () => {
    it('hands the message to the sink and answers 202 with the outcome', async () => {
      await serve();

      const answer = await call('POST', '/messages', {
        event: 'orderConfirmed',
        payload: { orderNo: 'PO-1' },
        correlationKey: 'corr-1',
        businessKey: { orderNo: 'PO-1' },
        messageId: 'm-1',
      });

      expect(answer).toEqual({
        status: 202,
        body: { outcome: { status: 'parked', parkedId: 'recorded-0' } },
      });
      expect(sink.messages).toEqual([
        {
          event: 'orderConfirmed',
          payload: { orderNo: 'PO-1' },
          correlationKey: 'corr-1',
          businessKey: { orderNo: 'PO-1' },
          messageId: 'm-1',
          source: 'http:127.0.0.1',
          // Message ids are scoped by the route that vouches for them.
          sender: 'http',
        },
      ]);
    });

    it('takes correlation key and message id from headers when the body has none', async () => {
      await serve();

      await call(
        'POST',
        '/messages',
        { event: 'e', payload: null },
        { 'x-psi-correlation-key': 'corr-h', 'x-psi-message-id': 'm-h' },
      );

      expect(sink.messages[0]).toMatchObject({ correlationKey: 'corr-h', messageId: 'm-h' });
    });

    it('answers 202 for every outcome, dead letters included', async () => {
      sink = new RecordingSink({
        outcome: () => ({ status: 'dead-lettered', deadLetterId: 'dl-1', reason: 'expired' }),
      });
      await serve();

      const answer = await call('POST', '/messages', { event: 'e', payload: 1 });

      expect(answer.status).toBe(202);
      expect(answer.body.outcome).toEqual({
        status: 'dead-lettered',
        deadLetterId: 'dl-1',
        reason: 'expired',
      });
    });

    it.each([
      ['no event', { payload: 1 }],
      ['an empty event', { event: '', payload: 1 }],
      ['a non-string correlation key', { event: 'e', correlationKey: 7 }],
      ['a businessKey that is no object', { event: 'e', businessKey: 'PO-1' }],
      ['an array body', [1, 2]],
    ])('answers 400 PSI_MESSAGE_INVALID for %s, without calling the sink', async (_case, body) => {
      await serve();

      const answer = await call('POST', '/messages', body);

      expect(answer).toMatchObject({ status: 400, body: { code: PsiErrorCode.MessageInvalid } });
      expect(answer.body.message).toEqual(expect.any(String));
      expect(sink.messages).toHaveLength(0);
    });

    it('answers 400 when the sink refuses the message as invalid', async () => {
      sink = new RecordingSink({
        outcome: () => {
          throw new InboundMessageError('payload is not serialisable');
        },
      });
      await serve();

      const answer = await call('POST', '/messages', { event: 'e', payload: 1 });

      expect(answer).toMatchObject({ status: 400, body: { code: PsiErrorCode.MessageInvalid } });
    });

    it('answers 500 PSI_HTTP_INTERNAL, without stack or internals, when the sink fails unexpectedly, and logs it', async () => {
      sink = new RecordingSink({
        outcome: () => {
          throw new Error('connection to db-7.internal lost');
        },
      });
      await serve();

      const answer = await call('POST', '/messages', { event: 'e', payload: 1 });

      expect(answer.status).toBe(500);
      expect(answer.body).toEqual({
        code: AdaptersErrorCode.HttpInternal,
        message: expect.not.stringContaining('db-7'),
      });
      // Logged although fastify's logger is off (the default).
      expect(logged).toContainEqual({
        level: 'error',
        message: expect.stringContaining('500 on POST /messages'),
      });
    });
  });

  describe('request errors', () => {
    it('answers 413 PSI_HTTP_BODY_TOO_LARGE above bodyLimitBytes', async () => {
      await serve({ bodyLimitBytes: 1024 });

      const answer = await call('POST', '/messages', { event: 'e', payload: 'x'.repeat(2048) });

      expect(answer).toMatchObject({
        status: 413,
        body: { code: AdaptersErrorCode.HttpBodyTooLarge, limitBytes: 1024 },
      });
      expect(sink.messages).toHaveLength(0);
    });

    it('answers 400 PSI_HTTP_BODY_MALFORMED for broken JSON, without repeating the body', async () => {
      await serve();

      const answer = await call('POST', '/messages', '{"event": "e-marker-51",');

      expect(answer).toEqual({
        status: 400,
        body: { code: AdaptersErrorCode.HttpBodyMalformed, message: expect.any(String) },
      });
      expect(JSON.stringify(answer.body)).not.toContain('marker-51');
    });

    it('refuses __proto__ keys as malformed', async () => {
      await serve();

      const answer = await call(
        'POST',
        '/messages',
        '{"event":"e","payload":{"__proto__":{"x":1}}}',
      );

      expect(answer).toMatchObject({
        status: 400,
        body: { code: AdaptersErrorCode.HttpBodyMalformed },
      });
    });

    it('answers 400 for an empty JSON body', async () => {
      await serve();

      const answer = await call('POST', '/messages', '');

      expect(answer).toMatchObject({
        status: 400,
        body: { code: AdaptersErrorCode.HttpBodyMalformed },
      });
    });

    it.each([['text/plain'], ['application/x-www-form-urlencoded']])(
      'answers 415 for content type %s',
      async (contentType) => {
        await serve();

        const answer = await call('POST', '/messages', 'event=e', { 'content-type': contentType });

        expect(answer).toMatchObject({
          status: 415,
          body: { code: AdaptersErrorCode.HttpUnsupportedMediaType },
        });
      },
    );

    it('accepts application/*+json and a charset parameter', async () => {
      await serve();

      const vendor = await call('POST', '/messages', '{"event":"e"}', {
        'content-type': 'application/vnd.psi+json',
      });
      const charset = await call('POST', '/messages', '{"event":"e"}', {
        'content-type': 'application/json; charset=utf-8',
      });

      expect([vendor.status, charset.status]).toEqual([202, 202]);
    });

    it.each([
      ['GET', '/nowhere'],
      ['POST', '/nowhere'],
      ['GET', '/messages'],
    ] as const)('answers 404 PSI_HTTP_NOT_FOUND for %s %s', async (method, path) => {
      await serve();

      const answer = await call(method, path);

      expect(answer).toMatchObject({ status: 404, body: { code: AdaptersErrorCode.HttpNotFound } });
    });
  });

  describe('having a bearer token', () => {
    const bearerToken = 's3cret-token-0f9a2c71';

    it.each([
      ['no authorization header', {}],
      ['a wrong token', { authorization: 'Bearer nope' }],
      ['another scheme', { authorization: `Basic ${bearerToken}` }],
    ])('answers 401 PSI_HTTP_UNAUTHORIZED for %s', async (_case, headers) => {
      await serve({ bearerToken });

      const answer = await call('POST', '/messages', { event: 'e' }, headers);

      expect(answer).toMatchObject({
        status: 401,
        body: { code: AdaptersErrorCode.HttpUnauthorized },
      });
      expect(sink.messages).toHaveLength(0);
    });

    it('accepts the right token', async () => {
      await serve({ bearerToken });

      const answer = await call(
        'POST',
        '/messages',
        { event: 'e' },
        {
          authorization: `Bearer ${bearerToken}`,
        },
      );

      expect(answer.status).toBe(202);
    });

    it('protects signals too', async () => {
      await serve({ bearerToken });

      const answer = await call('POST', '/instances/i-1/signal', { waitState: 'scriptRunning' });

      expect(answer.status).toBe(401);
      expect(engine.signals).toHaveLength(0);
    });

    it('leaves /health and /callbacks (authenticated by their token) open', async () => {
      await serve({ bearerToken });

      expect((await call('GET', '/health')).status).toBe(200);
      expect((await call('POST', `/callbacks/${callbackToken()}`, { event: 'done' })).status).toBe(
        202,
      );
    });

    it('accepts any of several tokens (rotation)', async () => {
      await serve({ bearerToken: [bearerToken, 'next-token-7d1e0b52a9'] });

      for (const token of [bearerToken, 'next-token-7d1e0b52a9']) {
        const answer = await call(
          'POST',
          '/messages',
          { event: 'e' },
          {
            authorization: `Bearer ${token}`,
          },
        );
        expect(answer.status).toBe(202);
      }
    });
  });

  describe('POST /instances/:instanceId/signal', () => {
    it('signals the engine and answers 200', async () => {
      await serve();

      const answer = await call('POST', '/instances/i-1/signal', {
        waitState: 'scriptRunning',
        transition: 'done',
        variables: { exitCode: 0 },
      });

      expect(answer).toEqual({ status: 200, body: { signalled: true } });
      expect(engine.signals).toEqual([
        {
          instanceId: 'i-1',
          waitState: 'scriptRunning',
          options: { transition: 'done', variables: { exitCode: 0 } },
        },
      ]);
    });

    it('applies a signal with a `signalId` once: a retry answers 200 `repeated`', async () => {
      await serve();
      const body = { waitState: 'scriptRunning', transition: 'done', signalId: 'script-42:done' };

      const first = await call('POST', '/instances/i-1/signal', body);
      const retry = await call('POST', '/instances/i-1/signal', body);

      expect(first).toEqual({ status: 200, body: { signalled: true } });
      expect(retry).toEqual({ status: 200, body: { signalled: true, repeated: true } });
      expect(engine.signals).toEqual([
        {
          instanceId: 'i-1',
          waitState: 'scriptRunning',
          // In the callers' own namespace: never one of PSI's signal ids (psi:…).
          options: { transition: 'done', signalId: 'signal:script-42:done' },
        },
      ]);
      // Without the id, the same request is a new signal, refused where the instance is now.
      const anonymous = { waitState: body.waitState, transition: body.transition };
      expect(await call('POST', '/instances/i-1/signal', anonymous)).toMatchObject({
        status: 409,
        body: { code: PsiErrorCode.EngineSignalRejected, currentStates: ['next'] },
      });
    });

    it('answers 409 with the current states when the instance is elsewhere', async () => {
      await serve();

      const answer = await call('POST', '/instances/i-1/signal', { waitState: 'approval' });

      expect(answer).toEqual({
        status: 409,
        body: {
          code: PsiErrorCode.EngineSignalRejected,
          message: expect.any(String),
          currentStates: ['scriptRunning'],
        },
      });
      // What the caller sent is not repeated back.
      expect(answer.body.message).not.toContain('approval');
    });

    it("answers 409 with the engine's code for a transition the wait state does not have", async () => {
      await serve();

      const answer = await call('POST', '/instances/i-1/signal', {
        waitState: 'scriptRunning',
        transition: 'no-such-transition',
      });

      expect(answer).toMatchObject({
        status: 409,
        body: { code: 'PSI_ENGINE_TRANSITION_UNKNOWN' },
      });
      expect(engine.signals).toHaveLength(0);
    });

    it('answers 404 PSI_INSTANCE_NOT_FOUND for an unknown instance', async () => {
      await serve();

      const answer = await call('POST', '/instances/i-404/signal', { waitState: 'w' });

      expect(answer).toMatchObject({ status: 404, body: { code: PsiErrorCode.InstanceNotFound } });
    });

    it.each([
      ['no waitState', {}],
      ['a non-string transition', { waitState: 'w', transition: 3 }],
      ['variables that are no object', { waitState: 'w', variables: [1] }],
      ['a non-string signalId', { waitState: 'w', signalId: 7 }],
      ['an empty signalId', { waitState: 'w', signalId: '' }],
    ])('answers 400 PSI_HTTP_REQUEST_INVALID for %s', async (_case, body) => {
      await serve();

      const answer = await call('POST', '/instances/i-1/signal', body);

      expect(answer).toMatchObject({
        status: 400,
        body: { code: AdaptersErrorCode.HttpRequestInvalid },
      });
      expect(engine.signals).toHaveLength(0);
    });

    it.each([
      ['a signalId over 200 bytes', { waitState: 'w', signalId: 'x'.repeat(201) }],
      ['a waitState over 512 bytes', { waitState: 'w'.repeat(513) }],
      ['variables nested deeper than 32', { waitState: 'w', variables: nested(40) }],
    ])('answers 400 PSI_MESSAGE_LIMIT_EXCEEDED for %s', async (_case, body) => {
      await serve();

      const answer = await call('POST', '/instances/i-1/signal', body);

      expect(answer).toMatchObject({
        status: 400,
        body: { code: PsiErrorCode.MessageLimitExceeded, limit: expect.any(String) },
      });
      expect(engine.signals).toHaveLength(0);
    });

    it('answers 400 PSI_MESSAGE_INVALID for a control character in the wait state', async () => {
      await serve();

      const answer = await call('POST', '/instances/i-1/signal', { waitState: 'w\u0000x' });

      expect(answer).toMatchObject({ status: 400, body: { code: PsiErrorCode.MessageInvalid } });
      expect(engine.signals).toHaveLength(0);
    });

    it('answers 501 when the server has no engine', async () => {
      server = new HttpInboundServer({ sink, allowUnauthenticated: true, log });
      ({ url } = await server.start());

      const answer = await call('POST', '/instances/i-1/signal', { waitState: 'scriptRunning' });

      expect(answer).toMatchObject({
        status: 501,
        body: { code: AdaptersErrorCode.HttpNotImplemented },
      });
    });
  });

  describe('POST /callbacks/:token', () => {
    it('hands { event, data } to the sink as an answer bound to the token`s visit', async () => {
      await serve();

      const answer = await call('POST', `/callbacks/${callbackToken()}`, {
        event: 'done',
        data: { exitCode: 0 },
      });

      expect(answer).toEqual({
        status: 202,
        body: { outcome: { status: 'parked', parkedId: 'recorded-0' } },
      });
      expect(sink.messages).toEqual([
        expect.objectContaining({
          event: 'done',
          correlationKey: 'corr-7',
          payload: { exitCode: 0 },
          boundTo: { instanceId: 'i-1', waitState: 'scriptRunning' },
        }),
      ]);
      expect(sink.messages[0]!.businessKey).toBeUndefined();
      expect(engine.signals).toHaveLength(0);
    });

    it.each([
      [{ status: 'delivered', instanceId: 'i-1', expectationId: 'x-1' }, 200, {}],
      [{ status: 'duplicate' }, 200, { repeated: true }],
      [{ status: 'dead-lettered', deadLetterId: 'dl-1', reason: 'handler-failed' }, 202, {}],
    ] as const)('answers %j with %i', async (outcome, status, extra) => {
      sink = new RecordingSink({ outcome: () => outcome });
      await serve();

      const answer = await call('POST', `/callbacks/${callbackToken()}`, { event: 'done' });

      expect(answer).toEqual({ status, body: { outcome, ...extra } });
    });

    it.each([
      ['late', 409, AdaptersErrorCode.CallbackLate],
      ['superseded', 409, AdaptersErrorCode.CallbackLate],
      ['invalid', 422, AdaptersErrorCode.CallbackPayloadInvalid],
    ] as const)('answers a report dead-lettered %s with %i', async (reason, status, code) => {
      sink = new RecordingSink({
        outcome: () => ({ status: 'dead-lettered', deadLetterId: 'dl-9', reason }),
      });
      await serve();

      const answer = await call('POST', `/callbacks/${callbackToken()}`, { event: 'done' });

      expect(answer).toMatchObject({ status, body: { code, deadLetterId: 'dl-9' } });
    });

    it('answers 403 PSI_CALLBACK_EVENT_NOT_ALLOWED for an event the token does not name', async () => {
      await serve();

      const answer = await call('POST', `/callbacks/${callbackToken()}`, { event: 'approved' });

      expect(answer).toMatchObject({
        status: 403,
        body: { code: AdaptersErrorCode.CallbackEventNotAllowed },
      });
      expect(sink.messages).toHaveLength(0);
    });

    it('answers 401 PSI_CALLBACK_TOKEN_INVALID for a forged token; nothing changes', async () => {
      await serve();
      const forger = new CallbackTokenService({ keys: [{ id: 'k1', secret: randomBytes(32) }] });
      const forged = forger.issue({
        instanceId: 'i-1',
        waitState: 'scriptRunning',
        correlationKey: 'corr-7',
        events: ['done'],
        ttlMs: 60_000,
      });

      const answer = await call('POST', `/callbacks/${forged}`, { event: 'done' });

      expect(answer).toMatchObject({
        status: 401,
        body: { code: AdaptersErrorCode.CallbackTokenInvalid },
      });
      expect(sink.messages).toHaveLength(0);
    });

    it('answers 410 PSI_CALLBACK_TOKEN_EXPIRED for an expired token; nothing changes', async () => {
      await serve();
      const token = callbackToken(1_000);
      clock += 1_000;

      const answer = await call('POST', `/callbacks/${token}`, { event: 'done' });

      expect(answer).toMatchObject({
        status: 410,
        body: { code: AdaptersErrorCode.CallbackTokenExpired, expiredAt: expect.any(String) },
      });
      expect(sink.messages).toHaveLength(0);
    });

    it('answers 400 PSI_MESSAGE_INVALID when the event is missing', async () => {
      await serve();

      const answer = await call('POST', `/callbacks/${callbackToken()}`, { data: {} });

      expect(answer).toMatchObject({ status: 400, body: { code: PsiErrorCode.MessageInvalid } });
      expect(sink.messages).toHaveLength(0);
    });

    it('does not exist without a token service', async () => {
      server = new HttpInboundServer({ sink, engine, allowUnauthenticated: true, log });
      ({ url } = await server.start());

      const answer = await call('POST', `/callbacks/${callbackToken()}`, { event: 'done' });

      expect(answer).toMatchObject({ status: 404, body: { code: AdaptersErrorCode.HttpNotFound } });
    });
  });
});

/** `{ a: { a: … } }`, `depth` objects deep. */
function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}
