// Just over 400 lines: the inbound server's routes, auth and limits share one fastify instance
// and its hooks; options, logging, tracing, rate limits and header checks are files of their own.
import { createHash, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import {
  checkDepth,
  checkIdentifier,
  InboundMessageError,
  PsiError,
  type InboundMessage,
  type ProcessEngine,
  type ReceiveOutcome,
  type SignalOptions,
} from '@psi/core';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  AdaptersErrorCode,
  CallbackEventNotAllowedError,
  CallbackLateError,
  CallbackPayloadInvalidError,
  HttpHeadersTooLargeError,
  HttpInternalError,
  HttpNotFoundError,
  HttpNotImplementedError,
  HttpRateLimitedError,
  HttpRequestInvalidError,
  HttpRequestTimeoutError,
  HttpUnauthorizedError,
} from '../errors';
import { fromFastifyError, publicError } from './http-error-body';
import { loadFastify } from './lazy-modules';
import {
  compileHttpInboundOptions,
  type CompiledHttpInboundOptions,
  type HttpAccessLogOptions,
  type HttpInboundServerOptions,
} from './http-inbound-options';
import { redactedRequest, redactUrl } from './inbound-logging';
import { PsiHttpHeader } from './psi-http-header';
import { tracedSignal, traceFieldsOf } from './http-trace';
import {
  header,
  isPlainObject,
  objectBody,
  optionalString,
  optionalVariables,
  parseJson,
  requireEvent,
} from './request-body';
import { SourceRateLimiter } from './source-rate-limiter';

export type { HttpInboundServerOptions } from './http-inbound-options';

/** What {@link HttpInboundServer.settings} reports. */
export type HttpInboundSettings = Omit<
  CompiledHttpInboundOptions,
  'bearerTokens' | 'log' | 'accessLog'
> & {
  /** False when the server runs open (`allowUnauthenticated`). */
  authenticated: boolean;
};

/** Routes that need no bearer token: the health check, and callbacks (their token is the credential). */
const OPEN_ROUTES = new Set(['/health', '/callbacks/:token']);
/** Drops are reported at most this often. */
const DROP_REPORT_INTERVAL_MS = 10_000;

/**
 * The inbound side of HTTP: receives asynchronous answers, callback-token reports and guarded
 * signals, and hands them to PSI. Every error answer is JSON `{ code, message, ...details }` and
 * never repeats what the request held. SECURITY.md says who may call what and every limit.
 *
 * Routes:
 * - `POST /messages` (bearer) `{ event, payload, correlationKey?, businessKey?, messageId? }` (or
 *   headers `x-psi-correlation-key` / `x-psi-message-id`) → 202 `{ outcome }`.
 * - `POST /callbacks/:token` `{ event, data }`: an answer bound to the token's instance, wait
 *   state and invocation, for one of its events; the adapter's handler decides what is written →
 *   200 delivered, 202 parked (the instance is not there yet), 200 `repeated` (a duplicate),
 *   409 `PSI_CALLBACK_LATE` (the wait state was left), 422 (invalid data), 403 (event not allowed).
 * - `POST /instances/:instanceId/signal` (bearer; only with `engine`)
 *   `{ waitState, transition?, variables?, signalId? }` → 200 / 404 / 409.
 * - `GET /health` → 200.
 */
export class HttpInboundServer {
  private readonly app: FastifyInstance;
  private readonly options: CompiledHttpInboundOptions;
  private readonly bearerDigests: Buffer[];
  private readonly limiter: SourceRateLimiter | undefined;
  private address: string | undefined;
  private dropped = 0;
  private lastDropReportAt = 0;

  constructor(private readonly input: HttpInboundServerOptions) {
    this.options = compileHttpInboundOptions(input);
    const o = this.options;
    this.bearerDigests = o.bearerTokens.map(digest);
    this.limiter = o.rateLimit ? new SourceRateLimiter(o.rateLimit) : undefined;
    this.app = loadFastify()({
      ...(o.accessLog
        ? {
            // fastify reads `serializers` off its logger instance: its `req` has no token.
            loggerInstance: o.accessLog.child(
              { component: 'psi-http' },
              { serializers: { req: redactedRequest } },
            ) as unknown as FastifyBaseLogger,
          }
        : { logger: accessLogger(input.logger as boolean | HttpAccessLogOptions | undefined) }),
      bodyLimit: o.bodyLimitBytes,
      requestTimeout: o.requestTimeoutMs,
      keepAliveTimeout: o.keepAliveTimeoutMs,
      http: {
        headersTimeout: o.headersTimeoutMs,
        maxHeaderSize: o.maxHeaderBytes,
        // Node checks the two timeouts every 30 s by default, which would let a slow request
        // live for up to 30 s past them.
        connectionsCheckingInterval: Math.max(10, Math.min(1_000, o.headersTimeoutMs / 2)),
      },
      trustProxy: input.trustProxy ?? false,
      // Callback tokens are longer than the default limit of 100.
      routerOptions: { maxParamLength: 4096 },
      frameworkErrors: (error, request, reply) => this.sendError(error, request, reply),
      clientErrorHandler: (error, socket) => this.onClientError(error, socket),
    });
    this.app.server.maxConnections = o.maxConnections;
    this.app.server.on('drop', () => this.onDrop());
    this.configure();
  }

  /** Base URL once started, e.g. `http://127.0.0.1:43121`. */
  get url(): string | undefined {
    return this.address;
  }

  /** The limits in force, defaults filled in (for health pages and checks); no secrets. */
  get settings(): HttpInboundSettings {
    const o = this.options;
    return {
      authenticated: o.bearerTokens.length > 0,
      allowUnauthenticated: o.allowUnauthenticated,
      bodyLimitBytes: o.bodyLimitBytes,
      maxHeaderBytes: o.maxHeaderBytes,
      requestTimeoutMs: o.requestTimeoutMs,
      headersTimeoutMs: o.headersTimeoutMs,
      keepAliveTimeoutMs: o.keepAliveTimeoutMs,
      maxConnections: o.maxConnections,
      rateLimit: o.rateLimit,
      limits: o.limits,
      host: o.host,
      port: o.port,
    };
  }

  /** Listens on `host`:`port`. */
  async start(): Promise<{ url: string }> {
    this.address = await this.app.listen({ host: this.options.host, port: this.options.port });
    if (this.bearerDigests.length === 0) {
      this.options.log.warn(
        `Inbound server at ${this.address} runs WITHOUT authentication (allowUnauthenticated): anyone who can reach it may post answers to /messages${this.input.engine ? ' and signal instances' : ''}.`,
      );
    }
    return { url: this.address };
  }

  /** Stops listening; requests in progress finish first. */
  async close(): Promise<void> {
    await this.app.close();
    this.address = undefined;
  }

  private configure(): void {
    const app = this.app;
    app.removeContentTypeParser('text/plain');
    for (const contentType of ['application/json', /^application\/[\w.-]+\+json$/]) {
      app.addContentTypeParser(contentType, { parseAs: 'string' }, (_request, body, done) => {
        try {
          done(null, parseJson(body.toString()));
        } catch (error) {
          done(error as Error, undefined);
        }
      });
    }

    app.setErrorHandler((error, request, reply) => this.sendError(error, request, reply));
    app.setNotFoundHandler((request, reply) =>
      this.sendError(new HttpNotFoundError(), request, reply),
    );

    // Before anything else: the rate limit (it also slows down guessing bearer tokens), then auth.
    app.addHook('onRequest', async (request) => {
      if (this.limiter) {
        const retryAfter = this.limiter.take(request.ip);
        if (retryAfter > 0) throw new HttpRateLimitedError(retryAfter);
      }
      if (this.bearerDigests.length === 0 || OPEN_ROUTES.has(request.routeOptions.url ?? '')) {
        return;
      }
      const match = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '');
      if (!match || !this.bearerAccepted(match[1]!.trim())) throw new HttpUnauthorizedError();
    });

    app.get('/health', async () => ({ status: 'ok' }));

    app.post('/messages', async (request, reply) => {
      const body = objectBody(request.body, (p) => new InboundMessageError(p));
      const invalid = (p: string): PsiError => new InboundMessageError(p);
      const businessKey = body.businessKey;
      if (businessKey !== undefined && !isPlainObject(businessKey)) {
        throw new InboundMessageError('"businessKey" must be an object of key fields.');
      }
      const message: InboundMessage = {
        event: requireEvent(body.event),
        payload: body.payload,
        correlationKey:
          optionalString(body, 'correlationKey', invalid) ??
          header(request, PsiHttpHeader.CorrelationKey),
        messageId:
          optionalString(body, 'messageId', invalid) ?? header(request, PsiHttpHeader.MessageId),
        ...(businessKey !== undefined ? { businessKey } : {}),
        source: `http:${request.ip}`,
        sender: 'http',
        ...traceFieldsOf(request),
      };
      const outcome = await this.input.sink.receive(message);
      return reply.code(202).send({ outcome });
    });

    const tokens = this.input.tokens;
    if (tokens) {
      app.post<{ Params: { token: string } }>('/callbacks/:token', async (request, reply) => {
        const claims = tokens.verify(request.params.token);
        const body = objectBody(request.body, (p) => new InboundMessageError(p));
        const event = requireEvent(body.event);
        if (!claims.events.includes(event)) throw new CallbackEventNotAllowedError();
        checkDepth('data', body.data, this.options.limits.maxDepth);
        // An answer, bound: matched by the invocation's correlation key alone and delivered
        // only at the token's instance and wait state; the handler decides what is written.
        const outcome = await this.input.sink.receive({
          event,
          correlationKey: claims.correlationKey,
          payload: body.data,
          messageId: header(request, PsiHttpHeader.MessageId),
          source: `http-callback:${claims.tokenId}`,
          sender: `http-callback:${claims.tokenId}`,
          boundTo: { instanceId: claims.instanceId, waitState: claims.waitState },
          ...traceFieldsOf(request),
        });
        return sendCallbackOutcome(reply, outcome);
      });
    }

    app.post<{ Params: { instanceId: string } }>(
      '/instances/:instanceId/signal',
      async (request, reply) => {
        const engine = this.engine();
        const { maxIdBytes, maxEventBytes, maxDepth } = this.options.limits;
        const invalid = (p: string): PsiError => new HttpRequestInvalidError(p);
        const instanceId = request.params.instanceId;
        checkIdentifier('instanceId', instanceId, maxIdBytes, 'maxIdBytes');
        const body = objectBody(request.body, invalid);
        if (typeof body.waitState !== 'string' || body.waitState.length === 0) {
          throw new HttpRequestInvalidError('"waitState" must be a non-empty string.');
        }
        checkIdentifier('waitState', body.waitState, maxIdBytes, 'maxIdBytes');
        const transition = optionalString(body, 'transition', invalid);
        if (transition !== undefined) {
          checkIdentifier('transition', transition, maxEventBytes, 'maxEventBytes');
        }
        const variables = optionalVariables(body.variables, 'variables');
        checkDepth('variables', variables, maxDepth);
        const signalId = optionalString(body, 'signalId', invalid);
        if (signalId !== undefined) checkIdentifier('signalId', signalId, 200, 'maxSignalIdBytes');
        const target = { instanceId, waitState: body.waitState };
        // signalId in its own namespace: a caller can never name a signal PSI sends (psi:…).
        const repeated = await tracedSignal(this.input.tracerProvider, request, target, () =>
          signalOnce(engine, instanceId, target.waitState, {
            ...(transition !== undefined ? { transition } : {}),
            ...(variables !== undefined ? { variables } : {}),
            ...(signalId !== undefined ? { signalId: `signal:${signalId}` } : {}),
          }),
        );
        return reply.code(200).send({ signalled: true, ...(repeated ? { repeated } : {}) });
      },
    );
  }

  private bearerAccepted(presented: string): boolean {
    const presentedDigest = digest(presented);
    let accepted = false;
    // Every configured token is compared, so the time taken does not tell which one matched.
    for (const expected of this.bearerDigests) {
      if (timingSafeEqual(presentedDigest, expected)) accepted = true;
    }
    return accepted;
  }

  private engine(): ProcessEngine {
    if (!this.input.engine) {
      throw new HttpNotImplementedError(
        'This server has no process engine; pass "engine" to HttpInboundServer to accept signals.',
      );
    }
    return this.input.engine;
  }

  private sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const known = fromFastifyError(error, this.options.bodyLimitBytes);
    const answer = known ? publicError(known) : undefined;
    const where = `${request.method} ${redactUrl(request.url)}`;
    if (!known || !answer) {
      this.options.log.error({ err: describeError(error) }, `500 on ${where}: unexpected error`);
      const internal = new HttpInternalError();
      return reply.code(500).send({ code: internal.code, message: internal.message });
    }
    if (answer.status >= 500) {
      this.options.log.error(
        { err: describeError(known) },
        `${answer.status} ${known.code} on ${where}`,
      );
    }
    if (known.code === AdaptersErrorCode.HttpRateLimited) {
      reply.header('retry-after', String((known as HttpRateLimitedError).retryAfterSeconds));
    }
    return reply.code(answer.status).send(answer.body);
  }

  /** Errors Node's HTTP parser raises before a request exists: timeouts, oversized headers. */
  private onClientError(error: Error & { code?: string }, socket: Socket): void {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const refusal =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new HttpRequestTimeoutError()
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? new HttpHeadersTooLargeError(this.options.maxHeaderBytes)
          : new HttpRequestInvalidError('the request is not valid HTTP/1.1.');
    const { status, body } = publicError(refusal)!;
    const text = JSON.stringify(body);
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
    }
    socket.destroy();
  }

  private onDrop(): void {
    this.dropped += 1;
    const now = Date.now();
    if (now - this.lastDropReportAt < DROP_REPORT_INTERVAL_MS) return;
    this.lastDropReportAt = now;
    this.options.log.warn(
      `Refused ${this.dropped} connection(s) so far: maxConnections (${this.options.maxConnections}) reached.`,
    );
  }
}

/** Signals unless the engine says it already took `options.signalId` (a retry): then `true`. */
async function signalOnce(
  engine: ProcessEngine,
  instanceId: string,
  waitState: string,
  options: SignalOptions,
): Promise<boolean> {
  const { signalId } = options;
  if (signalId !== undefined && (await engine.hasAppliedSignal?.(instanceId, signalId))) {
    return true;
  }
  await engine.signal(instanceId, waitState, options);
  return false;
}

/** What a callback's outcome means to the script that sent it. */
function sendCallbackOutcome(reply: FastifyReply, outcome: ReceiveOutcome): FastifyReply {
  switch (outcome.status) {
    case 'delivered':
      return reply.code(200).send({ outcome });
    case 'started':
      // Not reached: a bound answer never starts a process (message-starts.ts).
      return reply.code(200).send({ outcome });
    case 'duplicate':
      return reply.code(200).send({ outcome, repeated: true });
    case 'parked':
      return reply.code(202).send({ outcome });
    case 'dead-lettered':
      if (outcome.reason === 'late' || outcome.reason === 'superseded') {
        throw new CallbackLateError(outcome.deadLetterId, outcome.reason);
      }
      if (outcome.reason === 'invalid') throw new CallbackPayloadInvalidError(outcome.deadLetterId);
      // Kept for an operator (a failing handler, say): accepted, not delivered.
      return reply.code(202).send({ outcome });
  }
}

function accessLogger(logger: boolean | HttpAccessLogOptions | undefined):
  | false
  | {
      level: string;
      stream?: { write(line: string): void };
      serializers: { req: typeof redactedRequest };
    } {
  if (!logger) return false;
  const options = logger === true ? {} : logger;
  return {
    level: options.level ?? 'info',
    ...(options.stream ? { stream: options.stream } : {}),
    serializers: { req: redactedRequest },
  };
}

function describeError(error: unknown): unknown {
  if (PsiError.is(error)) return { ...error.toJSON(), stack: error.stack };
  if (error instanceof Error)
    return { name: error.name, message: error.message, stack: error.stack };
  return { message: String(error) };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
