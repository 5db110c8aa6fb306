import type { TracerProvider } from '@opentelemetry/api';
import {
  compileInboundLimits,
  type CompiledInboundLimits,
  type InboundLimits,
  type InboundSink,
  type ProcessEngine,
  type PsiLogger,
  type PsiLoggerOption,
  psiLogger,
} from '@psi/core';
import type { CallbackTokenService } from '../callback/callback-token.service';
import { HttpInboundConfigError } from '../errors';
import { consoleInboundLog, type HttpInboundLog } from './inbound-logging';
import {
  DEFAULT_RATE_LIMIT,
  type CompiledRateLimit,
  type RateLimitOptions,
} from './source-rate-limiter';

/** Where fastify's access log goes when `logger` is on: a level and a line sink. */
export interface HttpAccessLogOptions {
  /** pino level. @default 'info' */
  level?: string;
  /** Receives each JSON log line. @default stdout */
  stream?: { write(line: string): void };
}

export interface HttpInboundServerOptions {
  /** Where inbound messages and callbacks go: the coordinator, or an HttpTransport's `inboundSink`. */
  sink: InboundSink;
  /**
   * Enables `POST /instances/:id/signal` (for bearer-token holders): a guarded signal with any
   * transition and variables. Leave it out where only answers and callbacks come in.
   */
  engine?: ProcessEngine;
  /** Where the `/signal` route's spans go. @default the global tracer provider */
  tracerProvider?: TracerProvider;
  /** Verifies `/callbacks/:token`; without it that route does not exist. */
  tokens?: CallbackTokenService;
  /**
   * The bearer token(s) `/messages` and `/instances/:id/signal` require
   * (`Authorization: Bearer <token>`); several for rotation. `/callbacks/:token` (the token is
   * the credential) and `/health` need none. Without it the server refuses to be created unless
   * `allowUnauthenticated` is true.
   */
  bearerToken?: string | readonly string[];
  /**
   * Lets the server run without a bearer token: anyone who can reach it may post answers (and
   * signal instances when `engine` is given). It logs a warning saying so when it starts.
   * @default false
   */
  allowUnauthenticated?: boolean;
  /** Largest accepted request body. @default 1048576 (1 MiB) */
  bodyLimitBytes?: number;
  /** Largest request line + headers (larger: 431). @default 16384 */
  maxHeaderBytes?: number;
  /** Time for a whole request (headers and body) to arrive; slower ones get 408. @default 30000 */
  requestTimeoutMs?: number;
  /** Time for the headers to arrive; at most `requestTimeoutMs`. @default 10000 */
  headersTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open. @default 5000 */
  keepAliveTimeoutMs?: number;
  /** Open connections at most; the server closes further ones at once. @default 512 */
  maxConnections?: number;
  /**
   * Requests per source (remote address; see `trustProxy`); above it 429 with `Retry-After`.
   * `false` turns it off. @default { requestsPerSecond: 100, burst: 200, maxSources: 10000 }
   */
  rateLimit?: RateLimitOptions | false;
  /**
   * fastify's `trustProxy`: take the source address from `X-Forwarded-For` when the request comes
   * through these proxies (the rate limit's key). @default false (the socket's address)
   */
  trustProxy?: boolean | string | string[];
  /** Length and depth limits on callback and signal fields (same defaults as the coordinator's). */
  limits?: InboundLimits;
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
  /**
   * fastify's access log (one line per request and per response, with method, URL, status and
   * time; never bodies or headers, callback tokens in URLs redacted):
   * - a logger (pino, or any {@link PsiLogger}; the coordinator's): fastify writes to it, as its
   *   `loggerInstance`, behind PSI's redaction, and so do PSI's own reports (see `log`);
   * - `true` or {@link HttpAccessLogOptions}: a pino of fastify's own, JSON lines to a stream.
   * @default false
   */
  logger?: boolean | HttpAccessLogOptions | PsiLoggerOption;
  /**
   * PSI's own reports: every 5xx (with the error), refused connections, running open. Written
   * whether or not the access log is on. @default `logger` when it is a logger, else the
   * console (`[psi-http] …`)
   */
  log?: HttpInboundLog;
}

export interface CompiledHttpInboundOptions {
  bearerTokens: readonly string[];
  allowUnauthenticated: boolean;
  bodyLimitBytes: number;
  maxHeaderBytes: number;
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  rateLimit: CompiledRateLimit | false;
  limits: CompiledInboundLimits;
  host: string;
  port: number;
  /** PSI's reports, behind redaction. */
  log: PsiLogger;
  /** The logger fastify writes to, when `logger` is one. */
  accessLog: PsiLogger | undefined;
}

export function compileHttpInboundOptions(
  options: HttpInboundServerOptions,
): CompiledHttpInboundOptions {
  const bearerTokens =
    options.bearerToken === undefined
      ? []
      : typeof options.bearerToken === 'string'
        ? [options.bearerToken]
        : [...options.bearerToken];
  if (bearerTokens.some((token) => typeof token !== 'string' || token.length < 16)) {
    throw new HttpInboundConfigError(
      'every bearer token must be a string of at least 16 characters.',
    );
  }
  const allowUnauthenticated = options.allowUnauthenticated === true;
  if (bearerTokens.length === 0 && !allowUnauthenticated) {
    throw new HttpInboundConfigError(
      'no bearerToken given. Give one (clients send "Authorization: Bearer <token>"), or set allowUnauthenticated: true to run open on purpose.',
    );
  }
  const accessLog = isLogger(options.logger) ? psiLogger(options.logger) : undefined;
  const compiled: CompiledHttpInboundOptions = {
    bearerTokens,
    allowUnauthenticated,
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
    maxHeaderBytes: options.maxHeaderBytes ?? 16 * 1024,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    headersTimeoutMs:
      options.headersTimeoutMs ?? Math.min(10_000, options.requestTimeoutMs ?? 30_000),
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 5_000,
    maxConnections: options.maxConnections ?? 512,
    rateLimit:
      options.rateLimit === false ? false : { ...DEFAULT_RATE_LIMIT, ...options.rateLimit },
    limits: compileInboundLimits(options.limits),
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    log: options.log
      ? psiLogger(options.log)
      : accessLog
        ? accessLog.child({ component: 'psi-http' })
        : psiLogger(consoleInboundLog),
    accessLog,
  };
  const positive: Array<[string, number]> = [
    ['bodyLimitBytes', compiled.bodyLimitBytes],
    ['maxHeaderBytes', compiled.maxHeaderBytes],
    ['requestTimeoutMs', compiled.requestTimeoutMs],
    ['headersTimeoutMs', compiled.headersTimeoutMs],
    ['keepAliveTimeoutMs', compiled.keepAliveTimeoutMs],
    ['maxConnections', compiled.maxConnections],
    ...(compiled.rateLimit
      ? ([
          ['rateLimit.requestsPerSecond', compiled.rateLimit.requestsPerSecond],
          ['rateLimit.burst', compiled.rateLimit.burst],
          ['rateLimit.maxSources', compiled.rateLimit.maxSources],
        ] as Array<[string, number]>)
      : []),
  ];
  for (const [name, value] of positive) {
    if (!(Number.isFinite(value) && value > 0)) {
      throw new HttpInboundConfigError(`${name} must be a positive number (got ${value}).`);
    }
  }
  if (compiled.headersTimeoutMs > compiled.requestTimeoutMs) {
    throw new HttpInboundConfigError('headersTimeoutMs must not exceed requestTimeoutMs.');
  }
  return compiled;
}

function isLogger(logger: HttpInboundServerOptions['logger']): logger is PsiLoggerOption {
  return typeof logger === 'object' && typeof (logger as { warn?: unknown }).warn === 'function';
}
