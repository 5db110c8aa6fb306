import type { InProcessService } from '@psi/adapters';
import { OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess, type ReferenceEngine } from '@psi/engines';

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

/** The in-process echo service: accepts `ping` and answers `pong` on the next turn of the loop. */
export function echoService(log: (message: string) => void): InProcessService {
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

/** Starts ping instances and resolves each with its outcome once the engine reports its end. */
export class PingRunner {
  private readonly ended = new Map<string, (outcome: string) => void>();
  private readonly unsubscribe: () => void;

  constructor(private readonly engine: ReferenceEngine) {
    this.unsubscribe = engine.subscribe((event) => {
      if (event.type === 'instance-ended') this.ended.get(event.instanceId)?.(event.outcome);
    });
  }

  /** One full correlation: start → … → end; resolves with the outcome (`completed` normally). */
  async correlate(instanceId: string): Promise<string> {
    const done = new Promise<string>((resolve) => this.ended.set(instanceId, resolve));
    try {
      await this.engine.start(pingProcess.id, {}, { instanceId });
      return await done;
    } finally {
      this.ended.delete(instanceId);
    }
  }

  stop(): void {
    this.unsubscribe();
  }
}
