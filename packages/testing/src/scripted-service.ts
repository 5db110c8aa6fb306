import type { InProcessCallContext, InProcessService } from '@psi/adapters';
import type { ReceiveOutcome } from '@psi/core';
import { NoServiceCallError } from './errors';

/** One call a scripted service received. */
export interface ServiceCall {
  service: string;
  operation: string;
  payload: unknown;
  requestId: string;
  correlationKey: string;
  /** 1 for the first call of this operation, 2 for the next (a retry, a second visit) ... */
  attempt: number;
  /** Answers this call later, through PSI, with its correlation key (as the service would). */
  respond(
    event: string,
    payload: unknown,
    options?: { messageId?: string },
  ): Promise<ReceiveOutcome>;
}

/**
 * What an operation does with a call: return a value for a synchronous reply, or `undefined`
 * for "accepted, the answer comes later"; throw for a technical failure (PSI retries it), or a
 * `TransportBusinessError` for a business one.
 */
export type ScriptedReply = (payload: unknown, call: ServiceCall) => unknown;

/**
 * An in-process service whose operations the test scripts: it records every call (answer one
 * later with `lastCall().respond(...)` or `env.answer({ call, ... })`), replies as told, and
 * fails as often as told. An operation it was not told about accepts the call (answer later).
 */
export class ScriptedService {
  readonly calls: ServiceCall[] = [];
  private readonly replies = new Map<string, ScriptedReply>();
  private readonly failures = new Map<string, number>();

  constructor(
    /** The service name (as adapters' `@ServiceAdapter({ service })` and the registry know it). */
    readonly name: string,
    replies: Record<string, ScriptedReply> = {},
  ) {
    for (const [operation, reply] of Object.entries(replies)) this.replies.set(operation, reply);
  }

  /** From now on, `operation` replies with what `reply` returns (or throws). */
  reply(operation: string, reply: ScriptedReply): this {
    this.replies.set(operation, reply);
    return this;
  }

  /** The next `times` calls of `operation` fail technically (PSI retries them with backoff). */
  failNext(operation: string, times: number): this {
    this.failures.set(operation, (this.failures.get(operation) ?? 0) + times);
    return this;
  }

  /** The calls of `operation` (all when not given), oldest first. */
  callsOf(operation?: string): ServiceCall[] {
    return operation ? this.calls.filter((c) => c.operation === operation) : [...this.calls];
  }

  /** The last call (of `operation`); NoServiceCallError when there is none. */
  lastCall(operation?: string): ServiceCall {
    const call = this.callsOf(operation).at(-1);
    if (!call) throw new NoServiceCallError(this.name, operation);
    return call;
  }

  /** The service as the in-process transport hosts it. */
  get operations(): InProcessService {
    return new Proxy({} as InProcessService, {
      get: (_target, operation) =>
        typeof operation === 'string'
          ? (payload: unknown, context: InProcessCallContext) =>
              this.handle(operation, payload, context)
          : undefined,
    });
  }

  private handle(operation: string, payload: unknown, context: InProcessCallContext): unknown {
    const call: ServiceCall = {
      service: this.name,
      operation,
      payload,
      requestId: context.requestId,
      correlationKey: context.correlationKey,
      attempt: this.callsOf(operation).length + 1,
      respond: (event, answer, options) => context.respond(event, answer, options),
    };
    this.calls.push(call);
    const failures = this.failures.get(operation) ?? 0;
    if (failures > 0) {
      this.failures.set(operation, failures - 1);
      throw new Error(`${this.name}.${operation} failed (scripted, call ${call.attempt})`);
    }
    return this.replies.get(operation)?.(payload, call);
  }
}
