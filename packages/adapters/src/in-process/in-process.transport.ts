import {
  PsiError,
  psiLogger,
  TransportTechnicalError,
  type PsiLogger,
  type PsiLoggerOption,
  type DispatchResult,
  type InboundSink,
  type OutboundRequest,
  type ReceiveOutcome,
  type ServiceCoordinates,
  type Transport,
} from '@psi/core';
import { TransportConfigError } from '../errors';
import { logSend } from '../transport-log';

/** Given to an in-process operation: who called, and how to answer later. */
export interface InProcessCallContext {
  requestId: string;
  correlationKey: string;
  operation: string;
  /**
   * Aborted when PSI stops waiting for this call (its timeout passed, or the transport stopped):
   * an operation that runs long may watch it and give up, since its result is no longer read.
   */
  signal: AbortSignal;
  /** Sends an asynchronous answer back through PSI, carrying this call's correlation key. */
  respond(
    event: string,
    payload: unknown,
    options?: { messageId?: string },
  ): Promise<ReceiveOutcome>;
}

/**
 * One operation of an in-process service. Returning a value is a synchronous reply; returning
 * `undefined` means "accepted, the answer comes later" (through `context.respond`).
 */
export type InProcessOperation = (payload: unknown, context: InProcessCallContext) => unknown;

/** An in-process service: operation name → implementation. */
export type InProcessService = Record<string, InProcessOperation>;

export interface InProcessTransportOptions {
  /** Where each send is logged at debug (see {@link PsiLogger}). @default the console at info and above */
  logger?: PsiLoggerOption;
  /**
   * How long a call may take when the coordinates name no `timeoutMs`; then it fails as a
   * technical error (retried), as an HTTP call would. @default 10000
   */
  defaultTimeoutMs?: number;
  /** How long `stop` lets calls in flight finish before failing them. @default 5000 */
  stopGraceMs?: number;
}

/** Why a call's signal was aborted. */
const timedOutReason = Symbol('in-process call timed out');
const stoppedReason = Symbol('in-process transport stopped');

/**
 * Calls services that live in the same Node process. The address in the registry's coordinates
 * names the registered service. Errors thrown by a service that are PSI errors (e.g. a
 * TransportBusinessError) pass through; anything else counts as a technical failure.
 *
 * A call is bounded like an HTTP call: an operation that never settles fails after its timeout,
 * and `stop` fails what is still running after a grace period, so a hung service cannot hold
 * `coordinator.close()` forever. The operation itself cannot be killed; its signal tells it.
 */
export class InProcessTransport implements Transport {
  readonly name = 'in-process';
  private readonly services = new Map<string, InProcessService>();
  private sink: InboundSink | undefined;
  private readonly log: PsiLogger;
  private readonly defaultTimeoutMs: number;
  private readonly stopGraceMs: number;
  /** Calls in flight: their abort controllers and their (never rejecting) outcomes. */
  private readonly inflight = new Map<AbortController, Promise<unknown>>();

  constructor(options: InProcessTransportOptions = {}) {
    this.log = psiLogger(options.logger).child({ transport: this.name });
    this.defaultTimeoutMs = positiveMs(options.defaultTimeoutMs, 10_000, 'defaultTimeoutMs');
    this.stopGraceMs = positiveMs(options.stopGraceMs, 5_000, 'stopGraceMs', true);
  }

  /** Makes `service` reachable at `address`. */
  register(address: string, service: InProcessService): this {
    this.services.set(address, service);
    return this;
  }

  async start(sink: InboundSink): Promise<void> {
    this.sink = sink;
  }

  /** Stops answers coming in; calls in flight get `stopGraceMs` to finish, then fail. */
  async stop(): Promise<void> {
    this.sink = undefined;
    const calls = [...this.inflight.values()];
    if (calls.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace-over'>((resolve) => {
      timer = setTimeout(() => resolve('grace-over'), this.stopGraceMs);
    });
    const outcome = await Promise.race([Promise.allSettled(calls), graceOver]);
    clearTimeout(timer);
    if (outcome === 'grace-over') {
      for (const controller of this.inflight.keys()) controller.abort(stoppedReason);
    }
  }

  async send(request: OutboundRequest, coordinates: ServiceCoordinates): Promise<DispatchResult> {
    const startedAt = performance.now();
    try {
      const result = await this.call(request, coordinates);
      logSend(this.log, request, coordinates, { result }, startedAt);
      return result;
    } catch (error) {
      logSend(this.log, request, coordinates, { error }, startedAt);
      throw error;
    }
  }

  private async call(
    request: OutboundRequest,
    coordinates: ServiceCoordinates,
  ): Promise<DispatchResult> {
    const operation = this.services.get(coordinates.address)?.[request.operation];
    if (!operation) {
      throw new TransportTechnicalError(
        `No in-process service operation "${request.operation}" is registered at "${coordinates.address}".`,
      );
    }
    const abort = new AbortController();
    const context: InProcessCallContext = {
      requestId: request.requestId,
      correlationKey: request.correlationKey,
      operation: request.operation,
      signal: abort.signal,
      respond: (event, payload, options) =>
        this.respond(request, event, payload, options?.messageId),
    };
    const target = `In-process service "${coordinates.address}"`;
    const timeoutMs = coordinates.timeoutMs ?? this.defaultTimeoutMs;
    const running = Promise.resolve().then(() => operation(request.payload, context));
    // Settles with the operation, or rejects when the signal is aborted first.
    const bounded = new Promise<unknown>((resolve, reject) => {
      abort.signal.addEventListener('abort', () => reject(abort.signal.reason), { once: true });
      running.then(resolve, reject);
    });
    const timer = setTimeout(() => abort.abort(timedOutReason), timeoutMs);
    this.inflight.set(
      abort,
      bounded.catch(() => undefined),
    );
    try {
      const result = await bounded;
      return result === undefined ? { kind: 'accepted' } : { kind: 'reply', payload: result };
    } catch (error) {
      if (error === timedOutReason) {
        throw new TransportTechnicalError(
          `${target} did not answer "${request.operation}" within ${timeoutMs} ms.`,
        );
      }
      if (error === stoppedReason) {
        throw new TransportTechnicalError(
          `${target} was still running "${request.operation}" when the transport stopped.`,
        );
      }
      if (PsiError.is(error)) throw error;
      throw new TransportTechnicalError(
        `${target} failed in "${request.operation}": ${String(error)}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
      this.inflight.delete(abort);
      // An operation still running after its call failed: its later failure is nobody's to see.
      running.catch(() => undefined);
    }
  }

  private respond(
    request: OutboundRequest,
    event: string,
    payload: unknown,
    messageId: string | undefined,
  ): Promise<ReceiveOutcome> {
    if (!this.sink) {
      return Promise.reject(
        new TransportTechnicalError(
          'The in-process transport is stopped; start it before answering.',
        ),
      );
    }
    return this.sink.receive({
      event,
      payload,
      messageId,
      correlationKey: request.correlationKey,
      source: `in-process:${request.service}`,
      sender: `in-process:${request.service}`,
      // The answer travels in the trace of the request it answers, as from a traced service.
      traceHeaders: request.traceHeaders,
    });
  }
}

function positiveMs(
  value: number | undefined,
  fallback: number,
  name: string,
  zeroOk = false,
): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !zeroOk)) {
    throw new TransportConfigError(
      'InProcessTransport',
      `${name} must be a number of milliseconds above 0.`,
    );
  }
  return value;
}
