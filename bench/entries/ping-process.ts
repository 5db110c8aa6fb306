import type { InProcessCallContext, InProcessService } from '@psi/adapters';
import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess, type ReferenceEngine } from '@psi/engines';
import { IsString } from 'class-validator';

/**
 * The process every full-correlation benchmark runs: one service step whose answer comes later,
 * one wait state, the end. One correlation = one instance from start to `instance-ended`.
 */
export const pingProcess = defineProcess({
  id: 'bench-ping',
  start: 'call',
  steps: {
    call: { kind: 'service', next: 'await-answer' },
    'await-answer': { kind: 'wait', transitions: { answered: 'done' } },
    done: { kind: 'end' },
  },
});

/** The service contract: `ping` is accepted at once, `pong` comes later. */
export abstract class EchoService {
  abstract ping(request: { n: number }): Promise<void>;
}

/** Calls `echo.ping` at the `call` step and takes the `pong` at `await-answer`. */
@ServiceAdapter({ step: 'call', service: 'echo' })
export class PingAdapter {
  @Output() answer?: string;
  @UseService() echo!: EchoService;

  async callService(): Promise<void> {
    await this.echo.ping({ n: 1 });
  }

  @OnResponse('pong', { waitState: 'await-answer' })
  pong(payload: { answer: string }): string {
    this.answer = payload.answer;
    return 'answered';
  }
}

/**
 * The echo service of the peer comparison: answers `pong` on the next turn of the event loop,
 * the timing the peers' services get (peers.ts, "early"). The answer comes before the instance
 * waits; whether PSI parks it or it waits for the step's outcome under the instance's lock
 * depends on which comes first (the row's note gives the share parked).
 */
export function nextTurnEchoService(log: (message: string) => void): InProcessService {
  return {
    ping: (_payload, call) => {
      setImmediate(() => {
        call.respond('pong', { answer: 'pong' }).catch((error: unknown) => {
          log(`respond failed: ${String(error)}`);
        });
      });
      return undefined;
    },
  };
}

/**
 * The in-process echo service: accepts `ping` and answers `pong` before the call returns, so the
 * answer always comes before the instance waits for it (parked, then released). Answered a turn
 * later instead, it raced the step's outcome: once the outcome took the instance's lock first
 * (no commit between the send and the outcome), the answer waited for it and was delivered at
 * once, and the "early" rows measured the other path.
 */
export function echoService(log: (message: string) => void): InProcessService {
  return {
    ping: async (_payload, call) => {
      await call.respond('pong', { answer: 'pong' }).catch((error: unknown) => {
        log(`respond failed: ${String(error)}`);
      });
      return undefined;
    },
  };
}

/**
 * The same process for a service that answers once the instance waits for the answer, as a
 * remote service usually does (its answer takes longer than the step): the answer is delivered
 * at once instead of parked and released. The instance passes its id, so the service knows
 * whose wait state to watch.
 */
export const pingWhenWaitingProcess = defineProcess({
  id: 'bench-ping-when-waiting',
  start: 'call-when-waiting',
  steps: {
    'call-when-waiting': { kind: 'service', next: 'await-answer-when-waiting' },
    'await-answer-when-waiting': { kind: 'wait', transitions: { answered: 'done' } },
    done: { kind: 'end' },
  },
});

/** `echo.pingWhenWaiting` is accepted at once; its `pong` comes when the caller waits for it. */
export abstract class EchoWhenWaitingService {
  abstract pingWhenWaiting(request: { instance: string }): Promise<void>;
}

@ServiceAdapter({ step: 'call-when-waiting', service: 'echo' })
export class PingWhenWaitingAdapter {
  @Input() @IsString() instance!: string;
  @Output() answer?: string;
  @UseService() echo!: EchoWhenWaitingService;

  async callService(): Promise<void> {
    await this.echo.pingWhenWaiting({ instance: this.instance });
  }

  @OnResponse('pong', { waitState: 'await-answer-when-waiting' })
  pong(payload: { answer: string }): string {
    this.answer = payload.answer;
    return 'answered';
  }
}

/**
 * The in-process echo for {@link PingWhenWaitingAdapter}: answers `pong` when the engine reports
 * the calling instance at its wait state. `stop()` ends the subscription.
 */
export function echoWhenWaitingService(
  engine: ReferenceEngine,
  log: (message: string) => void,
): { service: InProcessService; stop(): void } {
  const calls = new Map<string, InProcessCallContext>();
  const stop = engine.subscribe((event) => {
    if (event.type !== 'wait-state-entered') return;
    const call = calls.get(event.instanceId);
    if (!call) return;
    calls.delete(event.instanceId);
    call.respond('pong', { answer: 'pong' }).catch((error: unknown) => {
      log(`respond failed: ${String(error)}`);
    });
  });
  return {
    service: {
      pingWhenWaiting: (payload, call) => {
        // The call comes from the service step, before the engine moves to the wait state.
        calls.set((payload as { instance: string }).instance, call);
        return undefined;
      },
    },
    stop,
  };
}

/** What a PingRunner needs of an engine: the reference engine, or the BPMN plugin. */
export interface PingEngine {
  start(
    definitionId: string,
    variables: Record<string, unknown>,
    options: { instanceId: string },
  ): Promise<string>;
  subscribe: ReferenceEngine['subscribe'];
}

/** Starts ping instances and resolves each with its outcome once the engine reports its end. */
export class PingRunner {
  private readonly ended = new Map<string, (outcome: string) => void>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly engine: PingEngine,
    /** The process to start: {@link pingProcess} or {@link pingWhenWaitingProcess}. */
    private readonly processId: string = pingProcess.id,
  ) {
    this.unsubscribe = engine.subscribe((event) => {
      if (event.type === 'instance-ended') this.ended.get(event.instanceId)?.(event.outcome);
    });
  }

  /** One full correlation: start → … → end; resolves with the outcome (`completed` normally). */
  async correlate(instanceId: string): Promise<string> {
    const done = new Promise<string>((resolve) => this.ended.set(instanceId, resolve));
    try {
      const variables =
        this.processId === pingWhenWaitingProcess.id ? { instance: instanceId } : {};
      await this.engine.start(this.processId, variables, { instanceId });
      return await done;
    } finally {
      this.ended.delete(instanceId);
    }
  }

  stop(): void {
    this.unsubscribe();
  }
}
