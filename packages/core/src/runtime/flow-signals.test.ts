import { CoordinatorClosedError } from '../errors';
import type { ProcessEngine } from '../spi/process-engine';
import type { ReadinessNotifier } from '../store/readiness-notifier';
import { NodeSignals } from './flow-signals';
import type { PsiClock } from './psi-clock';
import { TaskTracker } from './task-tracker';

/** A clock whose timers fire when the test moves it. */
class SteppedClock implements PsiClock {
  private at = 0;
  private readonly timers = new Map<number, { due: number; callback: () => void }>();
  private nextId = 1;
  now(): number {
    return this.at;
  }
  setTimeout(callback: () => void, delayMs: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { due: this.at + delayMs, callback });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  advance(ms: number): void {
    this.at += ms;
    for (const [id, timer] of [...this.timers]) {
      if (timer.due > this.at) continue;
      this.timers.delete(id);
      timer.callback();
    }
  }
  get pending(): number {
    return this.timers.size;
  }
}

function signals(clock: SteppedClock, tasks = new TaskTracker(() => undefined)): NodeSignals {
  return new NodeSignals({
    engine: {} as ProcessEngine,
    readiness: {} as ReadinessNotifier,
    origin: 'node-1',
    tasks,
    timers: clock,
  });
}

describe('NodeSignals', () => {
  it('a backoff resolves when the clock has moved by its time, and counts as sleeping', async () => {
    const clock = new SteppedClock();
    const tasks = new TaskTracker(() => undefined);
    const node = signals(clock, tasks);
    let done = false;
    const waiting = tasks.run('retry', () => node.backoff(100).then(() => (done = true)));
    await tasks.quiet(); // only a backoff runs: quiet, though not idle
    clock.advance(99);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(1);
    await waiting;
    expect(done).toBe(true);
  });

  it('closing rejects the backoffs waiting, clears their timers, and rejects later ones at once', async () => {
    const clock = new SteppedClock();
    const node = signals(clock);
    const first = node.backoff(1_000);
    const second = node.backoff(5);
    node.close();
    await expect(first).rejects.toBeInstanceOf(CoordinatorClosedError);
    await expect(second).rejects.toBeInstanceOf(CoordinatorClosedError);
    expect(clock.pending).toBe(0);
    await expect(node.backoff(1)).rejects.toBeInstanceOf(CoordinatorClosedError);
  });

  it('adopted starts a tracked release of the instance', async () => {
    const tasks = new TaskTracker(() => undefined);
    const node = signals(new SteppedClock(), tasks);
    const released: string[] = [];
    node.wake({ notify: () => undefined }, { release: async (id) => void released.push(id) });
    node.adopted('order-7');
    await tasks.idle();
    expect(released).toEqual(['order-7']);
  });
});
