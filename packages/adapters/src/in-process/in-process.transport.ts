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
import { logSend } from '../transport-log';

/** Given to an in-process operation: who called, and how to answer later. */
export interface InProcessCallContext {
  requestId: string;
  correlationKey: string;
  operation: string;
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

/**
 * Calls services that live in the same Node process. The address in the registry's coordinates
 * names the registered service. Errors thrown by a service that are PSI errors (e.g. a
 * TransportBusinessError) pass through; anything else counts as a technical failure.
 */
export class InProcessTransport implements Transport {
  readonly name = 'in-process';
  private readonly services = new Map<string, InProcessService>();
  private sink: InboundSink | undefined;
  private readonly log: PsiLogger;

  /**
   * @param options.logger where each send is logged at debug (see {@link PsiLogger}).
   * @default the console at info and above (so nothing of this)
   */
  constructor(options: { logger?: PsiLoggerOption } = {}) {
    this.log = psiLogger(options.logger).child({ transport: this.name });
  }

  /** Makes `service` reachable at `address`. */
  register(address: string, service: InProcessService): this {
    this.services.set(address, service);
    return this;
  }

  async start(sink: InboundSink): Promise<void> {
    this.sink = sink;
  }

  async stop(): Promise<void> {
    this.sink = undefined;
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
    const context: InProcessCallContext = {
      requestId: request.requestId,
      correlationKey: request.correlationKey,
      operation: request.operation,
      respond: (event, payload, options) =>
        this.respond(request, event, payload, options?.messageId),
    };
    try {
      const result = await operation(request.payload, context);
      return result === undefined ? { kind: 'accepted' } : { kind: 'reply', payload: result };
    } catch (error) {
      if (PsiError.is(error)) throw error;
      throw new TransportTechnicalError(
        `In-process service "${coordinates.address}" failed in "${request.operation}": ${String(error)}`,
        { cause: error },
      );
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
