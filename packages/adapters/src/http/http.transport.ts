import {
  PsiError,
  psiLogger,
  TransportBusinessError,
  type PsiLogger,
  type PsiLoggerOption,
  TransportTechnicalError,
  type DispatchResult,
  type InboundMessage,
  type InboundSink,
  type OutboundRequest,
  type ReceiveOutcome,
  type ServiceCoordinates,
  type Transport,
} from '@psi/core';
import type { Agent } from 'undici';
import { InboundUnavailableError } from '../errors';
import { logSend } from '../transport-log';
import { loadUndici } from './lazy-modules';
import { PsiHttpHeader } from './psi-http-header';

export interface HttpTransportOptions {
  /** Per-attempt timeout when the coordinates name none (whole exchange, body included). @default 10000 */
  defaultTimeoutMs?: number;
  /**
   * POST to `${address}/${operation}` (true) or to `address` itself (false). The body carries the
   * operation either way. @default true
   */
  appendOperationToPath?: boolean;
  /** Extra headers on every request, e.g. `authorization`. @default {} */
  headers?: Record<string, string>;
  /** Keep-alive sockets per origin. @default 16 */
  connectionsPerOrigin?: number;
  /** How long an idle keep-alive socket is kept open. @default 4000 */
  keepAliveTimeoutMs?: number;
  /** How long `stop` lets requests in flight finish before aborting them. @default 5000 */
  stopGraceMs?: number;
  /**
   * Where each send is logged at debug (see {@link PsiLogger}; the coordinator's logger fits).
   * @default the console at info and above (so nothing of this)
   */
  logger?: PsiLoggerOption;
}

/**
 * Sends requests to services over HTTP: `POST` with JSON `{ operation, payload }` and the PSI
 * headers (correlation key, message id = request id, reply-to). Sockets are reused (keep-alive).
 *
 * Status mapping: 2xx with a body → reply (JSON parsed when the content type says JSON, else the
 * text); 200/204 without a body → reply `undefined`; 202 → accepted (answers come later through
 * an {@link HttpInboundServer}). 4xx → TransportBusinessError with status and body, except
 * 408 and 429, which are technical like 3xx, 5xx, timeouts and connection failures.
 *
 * Inbound traffic does not pass through the transport itself: give {@link inboundSink} to an
 * HttpInboundServer, and it forwards to whatever sink `start` received.
 */
export class HttpTransport implements Transport {
  readonly name = 'http';
  /**
   * Forwards to the sink given to `start`; rejects with InboundUnavailableError while the
   * transport is not started. Pass it as the `sink` of an HttpInboundServer.
   */
  readonly inboundSink: InboundSink = { receive: (message) => this.forward(message) };

  private readonly options: Required<Omit<HttpTransportOptions, 'headers' | 'logger'>> & {
    headers: Record<string, string>;
  };
  private readonly log: PsiLogger;
  private agent: Agent | undefined;
  private sink: InboundSink | undefined;
  private stopped = false;
  private readonly inflightInbound = new Set<Promise<unknown>>();
  private readonly inflightSends = new Map<AbortController, Promise<DispatchResult>>();

  constructor(options: HttpTransportOptions = {}) {
    this.options = {
      defaultTimeoutMs: options.defaultTimeoutMs ?? 10_000,
      appendOperationToPath: options.appendOperationToPath ?? true,
      headers: options.headers ?? {},
      connectionsPerOrigin: options.connectionsPerOrigin ?? 16,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 4_000,
      stopGraceMs: options.stopGraceMs ?? 5_000,
    };
    this.log = psiLogger(options.logger).child({ transport: this.name });
  }

  async start(sink: InboundSink): Promise<void> {
    this.sink = sink;
    this.stopped = false;
  }

  /**
   * Stops forwarding inbound messages (those already forwarded finish first), refuses new sends,
   * and closes the connection pool: in-flight requests get `stopGraceMs` to finish, then fail
   * with a TransportTechnicalError.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.sink = undefined;
    await Promise.allSettled([...this.inflightInbound]);
    const sends = [...this.inflightSends.values()];
    if (sends.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'grace-over'>((resolve) => {
        timer = setTimeout(() => resolve('grace-over'), this.options.stopGraceMs);
      });
      const outcome = await Promise.race([Promise.allSettled(sends), graceOver]);
      clearTimeout(timer);
      if (outcome === 'grace-over') {
        for (const controller of this.inflightSends.keys()) controller.abort(stoppedReason);
        await Promise.allSettled(sends);
      }
    }
    const agent = this.agent;
    this.agent = undefined;
    await agent?.close();
  }

  async send(request: OutboundRequest, coordinates: ServiceCoordinates): Promise<DispatchResult> {
    if (this.stopped) {
      throw new TransportTechnicalError('The HTTP transport is stopped; start it before sending.');
    }
    const abort = new AbortController();
    const startedAt = performance.now();
    const sending = this.exchange(request, coordinates, abort);
    this.inflightSends.set(abort, sending);
    try {
      const result = await sending;
      logSend(this.log, request, coordinates, { result }, startedAt);
      return result;
    } catch (error) {
      logSend(this.log, request, coordinates, { error }, startedAt);
      throw error;
    } finally {
      this.inflightSends.delete(abort);
    }
  }

  private async exchange(
    request: OutboundRequest,
    coordinates: ServiceCoordinates,
    abort: AbortController,
  ): Promise<DispatchResult> {
    const url = this.urlFor(request, coordinates);
    const timeoutMs = coordinates.timeoutMs ?? this.options.defaultTimeoutMs;
    const replyTo = request.replyTo ?? coordinates.replyAddress;
    const headers: Record<string, string> = {
      ...this.options.headers,
      'content-type': 'application/json',
      accept: 'application/json',
      [PsiHttpHeader.CorrelationKey]: request.correlationKey,
      [PsiHttpHeader.MessageId]: request.requestId,
      [PsiHttpHeader.Operation]: request.operation,
      ...(replyTo !== undefined ? { [PsiHttpHeader.ReplyTo]: replyTo } : {}),
      // W3C Trace Context of the send span (traceparent, tracestate), made by the coordinator.
      ...request.traceHeaders,
    };
    const target = `${request.service} (${url})`;
    const timer = setTimeout(() => abort.abort(timedOutReason), timeoutMs);
    try {
      const response = await loadUndici().request(url, {
        method: 'POST',
        dispatcher: this.dispatcher(),
        headers,
        body: JSON.stringify({ operation: request.operation, payload: request.payload }),
        signal: abort.signal,
      });
      const text = await response.body.text();
      const contentType = headerValue(response.headers['content-type']);
      return interpret(response.statusCode, text, contentType, target);
    } catch (error) {
      if (PsiError.is(error)) throw error;
      if (abort.signal.reason === timedOutReason) {
        throw new TransportTechnicalError(
          `HTTP call to ${target} timed out after ${timeoutMs} ms.`,
          {
            cause: error,
          },
        );
      }
      if (abort.signal.reason === stoppedReason) {
        throw new TransportTechnicalError(
          `HTTP call to ${target} was aborted: the transport stopped before the service answered.`,
          { cause: error },
        );
      }
      throw new TransportTechnicalError(`HTTP call to ${target} failed: ${describe(error)}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  private urlFor(request: OutboundRequest, coordinates: ServiceCoordinates): string {
    if (!this.options.appendOperationToPath) return coordinates.address;
    const base = coordinates.address.replace(/\/+$/, '');
    return `${base}/${encodeURIComponent(request.operation)}`;
  }

  private dispatcher(): Agent {
    this.agent ??= new (loadUndici().Agent)({
      connections: this.options.connectionsPerOrigin,
      keepAliveTimeout: this.options.keepAliveTimeoutMs,
    });
    return this.agent;
  }

  private async forward(message: InboundMessage): Promise<ReceiveOutcome> {
    const sink = this.sink;
    if (!sink) throw new InboundUnavailableError(this.name);
    const receiving = sink.receive(message);
    this.inflightInbound.add(receiving);
    try {
      return await receiving;
    } finally {
      this.inflightInbound.delete(receiving);
    }
  }
}

const timedOutReason = new Error('timed out');
const stoppedReason = new Error('transport stopped');

function interpret(
  status: number,
  text: string,
  contentType: string | undefined,
  target: string,
): DispatchResult {
  if (status === 202) return { kind: 'accepted' };
  if (status >= 200 && status < 300) {
    return { kind: 'reply', payload: parseBody(text, contentType, target, true) };
  }
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
    const body = parseBody(text, contentType, target, false);
    throw new TransportBusinessError(
      `${target} rejected the request with HTTP ${status}.`,
      status,
      body,
    );
  }
  throw new TransportTechnicalError(
    `${target} answered HTTP ${status}${text ? `: ${truncate(text)}` : ''}.`,
  );
}

function parseBody(
  text: string,
  contentType: string | undefined,
  target: string,
  strict: boolean,
): unknown {
  if (text.length === 0) return undefined;
  if (!contentType || !/[/+]json\b/i.test(contentType)) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    if (!strict) return text;
    throw new TransportTechnicalError(`${target} answered malformed JSON: ${describe(error)}`, {
      cause: error,
    });
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}

function truncate(text: string): string {
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
