import { OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';

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
