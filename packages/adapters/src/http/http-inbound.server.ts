import { createHash, timingSafeEqual } from 'node:crypto';
import {
  InboundMessageError,
  PsiError,
  PsiErrorCode,
  type InboundMessage,
  type InboundSink,
  type ProcessEngine,
  type SignalOptions,
  type Variables,
} from '@psi/core';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { CallbackTokenService } from '../callback/callback-token.service';
import {
  AdaptersErrorCode,
  HttpBodyMalformedError,
  HttpBodyTooLargeError,
  HttpInternalError,
  HttpNotFoundError,
  HttpNotImplementedError,
  HttpRequestInvalidError,
  HttpUnauthorizedError,
  HttpUnsupportedMediaTypeError,
} from '../errors';
import { PsiHttpHeader } from './psi-http-header';

export interface HttpInboundServerOptions {
  /** Where inbound messages go: the coordinator, or an HttpTransport's `inboundSink`. */
  sink: InboundSink;
  /** Signalled by `/instances/:id/signal` and by callbacks whose token has no correlation key. */
  engine?: ProcessEngine;
  /** Verifies `/callbacks/:token`; without it that route does not exist. */
  tokens?: CallbackTokenService;
  /**
   * When set, `/messages` and `/instances/:id/signal` require `Authorization: Bearer <token>`.
   * `/callbacks/:token` (the token is the credential) and `/health` stay open.
   */
  bearerToken?: string;
  /** Largest accepted request body. @default 1048576 (1 MiB) */
  bodyLimitBytes?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** Fastify's pino logger; 500s are logged with their stack there. @default false */
  logger?: boolean;
}

/** Status of each PSI error code the server may answer with; any other error is a 500. */
const statusByCode: Record<string, number> = {
  [AdaptersErrorCode.HttpBodyMalformed]: 400,
  [AdaptersErrorCode.HttpRequestInvalid]: 400,
  [PsiErrorCode.MessageInvalid]: 400,
  [AdaptersErrorCode.HttpUnauthorized]: 401,
  [AdaptersErrorCode.CallbackTokenInvalid]: 401,
  [AdaptersErrorCode.HttpNotFound]: 404,
  [PsiErrorCode.InstanceNotFound]: 404,
  [PsiErrorCode.EngineSignalRejected]: 409,
  // Engine plugins refusing the transition a signal names (codes of @psi/engines, which this
  // package does not depend on): the caller's mistake, answered like a state conflict.
  PSI_ENGINE_TRANSITION_UNKNOWN: 409,
  PSI_ENGINE_TRANSITION_REFUSED: 409,
  [AdaptersErrorCode.CallbackTokenExpired]: 410,
  [AdaptersErrorCode.HttpBodyTooLarge]: 413,
  [AdaptersErrorCode.HttpUnsupportedMediaType]: 415,
  [AdaptersErrorCode.HttpNotImplemented]: 501,
  [AdaptersErrorCode.InboundUnavailable]: 503,
  [PsiErrorCode.CoordinatorClosed]: 503,
};

/**
 * The inbound side of HTTP: receives asynchronous answers, callback-token completions and guarded
 * signals, and hands them to PSI. Every error answer is JSON `{ code, message, ...details }`.
 *
 * Routes:
 * - `POST /messages` `{ event, payload, correlationKey?, businessKey?, messageId? }` (or headers
 *   `x-psi-correlation-key` / `x-psi-message-id`) → 202 `{ outcome }`.
 * - `POST /callbacks/:token` `{ event, data }` → 202 `{ outcome }` when the token carries a
 *   correlation key, else a guarded signal (`event` is the transition, `data` the variables) →
 *   200, or 409 with `currentStates` when the instance is not at the token's wait state.
 * - `POST /instances/:instanceId/signal` `{ waitState, transition?, variables? }` → 200 / 404 / 409.
 * - `GET /health` → 200.
 */
export class HttpInboundServer {
  private readonly app: FastifyInstance;
  private readonly bearerDigest: Buffer | undefined;
  private readonly bodyLimitBytes: number;
  private address: string | undefined;

  constructor(private readonly options: HttpInboundServerOptions) {
    this.bodyLimitBytes = options.bodyLimitBytes ?? 1024 * 1024;
    this.bearerDigest = options.bearerToken !== undefined ? digest(options.bearerToken) : undefined;
    this.app = Fastify({
      logger: options.logger ?? false,
      bodyLimit: this.bodyLimitBytes,
      // Callback tokens are longer than the default limit of 100.
      routerOptions: { maxParamLength: 4096 },
    });
    this.configure();
  }

  /** Base URL once started, e.g. `http://127.0.0.1:43121`. */
  get url(): string | undefined {
    return this.address;
  }

  /** Listens on `host`:`port`. */
  async start(): Promise<{ url: string }> {
    this.address = await this.app.listen({
      host: this.options.host ?? '127.0.0.1',
      port: this.options.port ?? 0,
    });
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
    app.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0] ?? request.url;
      return this.sendError(new HttpNotFoundError(request.method, path), request, reply);
    });

    if (this.bearerDigest) {
      const expected = this.bearerDigest;
      app.addHook('onRequest', async (request) => {
        const path = request.url.split('?')[0] ?? '';
        if (path === '/health' || path.startsWith('/callbacks/')) return;
        const match = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '');
        if (!match || !timingSafeEqual(digest(match[1]!.trim()), expected)) {
          throw new HttpUnauthorizedError();
        }
      });
    }

    app.get('/health', async () => ({ status: 'ok' }));

    app.post('/messages', async (request, reply) => {
      const body = objectBody(request.body, (p) => new InboundMessageError(p));
      const event = requireEvent(body.event);
      const correlationKey = optionalString(
        body,
        'correlationKey',
        (p) => new InboundMessageError(p),
      );
      const messageId = optionalString(body, 'messageId', (p) => new InboundMessageError(p));
      const businessKey = body.businessKey;
      if (businessKey !== undefined && !isPlainObject(businessKey)) {
        throw new InboundMessageError('"businessKey" must be an object of key fields.');
      }
      const message: InboundMessage = {
        event,
        payload: body.payload,
        correlationKey: correlationKey ?? header(request, PsiHttpHeader.CorrelationKey),
        messageId: messageId ?? header(request, PsiHttpHeader.MessageId),
        ...(businessKey !== undefined ? { businessKey } : {}),
        source: `http:${request.ip}`,
        sender: 'http',
      };
      const outcome = await this.options.sink.receive(message);
      return reply.code(202).send({ outcome });
    });

    const tokens = this.options.tokens;
    if (tokens) {
      app.post<{ Params: { token: string } }>('/callbacks/:token', async (request, reply) => {
        const claims = tokens.verify(request.params.token);
        const body = objectBody(request.body, (p) => new InboundMessageError(p));
        const event = requireEvent(body.event);
        if (claims.correlationKey !== undefined) {
          const outcome = await this.options.sink.receive({
            event,
            correlationKey: claims.correlationKey,
            payload: body.data,
            messageId: header(request, PsiHttpHeader.MessageId),
            source: `http-callback:${claims.tokenId}`,
            sender: `http-callback:${claims.tokenId}`,
          });
          return reply.code(202).send({ outcome });
        }
        const variables = optionalVariables(body.data, 'data');
        // A script that retries a callback it saw fail gets 200 again, not 409: same token and
        // event, same signal id.
        const repeated = await this.signalOnce(claims.instanceId, claims.waitState, {
          transition: event,
          ...(variables !== undefined ? { variables } : {}),
          signalId: `psi:callback:${claims.tokenId}:${event}`,
        });
        return reply.code(200).send({
          signalled: true,
          instanceId: claims.instanceId,
          waitState: claims.waitState,
          transition: event,
          ...(repeated ? { repeated } : {}),
        });
      });
    }

    app.post<{ Params: { instanceId: string } }>(
      '/instances/:instanceId/signal',
      async (request, reply) => {
        const body = objectBody(request.body, (p) => new HttpRequestInvalidError(p));
        if (typeof body.waitState !== 'string' || body.waitState.length === 0) {
          throw new HttpRequestInvalidError('"waitState" must be a non-empty string.');
        }
        const transition = optionalString(
          body,
          'transition',
          (p) => new HttpRequestInvalidError(p),
        );
        const variables = optionalVariables(body.variables, 'variables');
        const signalId = optionalString(body, 'signalId', (p) => new HttpRequestInvalidError(p));
        if (signalId !== undefined && (signalId.length === 0 || signalId.length > 200)) {
          throw new HttpRequestInvalidError('"signalId" must be 1 to 200 characters long.');
        }
        const repeated = await this.signalOnce(request.params.instanceId, body.waitState, {
          ...(transition !== undefined ? { transition } : {}),
          ...(variables !== undefined ? { variables } : {}),
          ...(signalId !== undefined ? { signalId } : {}),
        });
        return reply.code(200).send({ signalled: true, ...(repeated ? { repeated } : {}) });
      },
    );
  }

  /**
   * Signals, unless the engine says it already took `options.signalId` (a retried request):
   * then nothing changes and the answer is `true`, "repeated".
   */
  private async signalOnce(
    instanceId: string,
    waitState: string,
    options: SignalOptions,
  ): Promise<boolean> {
    const engine = this.engine();
    const { signalId } = options;
    if (signalId !== undefined && (await engine.hasAppliedSignal?.(instanceId, signalId))) {
      return true;
    }
    await engine.signal(instanceId, waitState, options);
    return false;
  }

  private engine(): ProcessEngine {
    if (!this.options.engine) {
      throw new HttpNotImplementedError(
        'This server has no process engine; pass "engine" to HttpInboundServer to accept signals.',
      );
    }
    return this.options.engine;
  }

  private sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const known = this.toPsiError(error, request);
    const status = known ? statusByCode[known.code] : undefined;
    if (!known || status === undefined) {
      request.log.error({ err: error }, 'Unexpected error in the PSI inbound server');
      const internal = new HttpInternalError();
      return reply.code(500).send({ code: internal.code, message: internal.message });
    }
    const { details } = known.toJSON();
    return reply.code(status).send({
      ...(isPlainObject(details) ? details : {}),
      code: known.code,
      message: known.message,
    });
  }

  /** Turns fastify's own errors into PSI errors; undefined for anything unexpected. */
  private toPsiError(error: unknown, request: FastifyRequest): PsiError | undefined {
    if (PsiError.is(error)) return error;
    const code = (error as { code?: unknown } | null)?.code;
    const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
    const message = error instanceof Error ? error.message : String(error);
    switch (code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return new HttpBodyTooLargeError(this.bodyLimitBytes);
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return new HttpUnsupportedMediaTypeError(request.headers['content-type']);
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return new HttpBodyMalformedError(message);
    }
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      return new HttpRequestInvalidError(message);
    }
    return undefined;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** JSON.parse that refuses `__proto__` keys, which would poison objects merged from the body. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text, (key, value: unknown) => {
      if (key === '__proto__') throw new Error('"__proto__" keys are not allowed');
      return value;
    }) as unknown;
  } catch (error) {
    throw new HttpBodyMalformedError(error instanceof Error ? error.message : String(error));
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objectBody(
  body: unknown,
  invalid: (problem: string) => PsiError,
): Record<string, unknown> {
  if (body === undefined) return {};
  if (!isPlainObject(body)) throw invalid('the body must be a JSON object.');
  return body;
}

function requireEvent(event: unknown): string {
  if (typeof event !== 'string' || event.length === 0) {
    throw new InboundMessageError('"event" must be a non-empty string naming the answer.');
  }
  return event;
}

function optionalString(
  body: Record<string, unknown>,
  field: string,
  invalid: (problem: string) => PsiError,
): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw invalid(`"${field}" must be a non-empty string when given.`);
  }
  return value;
}

function optionalVariables(value: unknown, field: string): Variables | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) {
    throw new HttpRequestInvalidError(`"${field}" must be an object of process variables.`);
  }
  return value;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}
