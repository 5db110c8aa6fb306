import type { PsiClock } from '@psi/core';
import { TestClockError, TestingErrorCode } from './errors';

interface PendingTimer {
  readonly id: number;
  readonly dueAt: number;
  readonly callback: () => unknown;
}

/**
 * The clock of a test environment: PSI (deadlines, parking TTLs, retry backoff, leases,
 * retention) and the engine (timer steps, SLAs, delayed events) read it and set their timers on
 * it, and it only moves when the test says so. `advance(ms)` fires what falls due, earliest
 * first, and lets the work each timer started finish before the next fires, so a 7-day TTL runs
 * out in milliseconds and always in the same order. Timers due at the same time fire in the
 * order they were set.
 */
export class TestClock implements PsiClock {
  private current: number;
  private nextId = 1;
  private readonly pending = new Map<number, PendingTimer>();
  // Work the fired timers started (an engine's timer returns it), awaited before moving on.
  private readonly working = new Set<Promise<unknown>>();
  private moving = false;
  private settle: () => Promise<void> = async () => undefined;
  private onError: (error: unknown) => void = () => undefined;

  /** @param startAt epoch ms of the first reading. @default the real time at creation */
  constructor(startAt = Date.now()) {
    this.current = startAt;
  }

  /**
   * What the clock waits for after each timer (`settle`: the environment's background work is
   * done) and where a timer callback's failure goes. The test environment attaches itself.
   */
  attach(hooks: { settle: () => Promise<void>; onError: (error: unknown) => void }): void {
    this.settle = hooks.settle;
    this.onError = hooks.onError;
  }

  /** Epoch ms on this clock. */
  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, delayMs: number): unknown {
    const id = this.nextId++;
    const delay = Number.isFinite(delayMs) ? Math.max(0, delayMs) : Number.POSITIVE_INFINITY;
    this.pending.set(id, { id, dueAt: this.current + delay, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    if (typeof handle === 'number') this.pending.delete(handle);
  }

  /** How many timers are set and not yet fired or cleared. */
  get pendingTimers(): number {
    return this.pending.size;
  }

  /** When the next timer falls due (epoch ms), if any is set. */
  nextDueAt(): number | undefined {
    return this.earliest(Number.POSITIVE_INFINITY, true)?.dueAt;
  }

  /**
   * Moves the clock forward by `ms`: every timer due until then fires, earliest first, each
   * after the work of the one before has finished; what those timers set within the window
   * fires too. Resolves once PSI and the engine have nothing left to do at the new time.
   */
  advance(ms: number): Promise<void> {
    if (!(ms >= 0) || !Number.isFinite(ms)) {
      return Promise.reject(
        new TestClockError(
          TestingErrorCode.ClockBackwards,
          `advance(ms) takes a finite number of ms ≥ 0 (got ${ms}).`,
        ),
      );
    }
    return this.advanceTo(this.current + ms);
  }

  /**
   * Moves the clock to `epochMs` (see `advance`). With `fireAtTarget: false`, timers due exactly
   * at `epochMs` are left for `runUntilIdle()`: what the test does in between happens on the
   * same tick as them, before them.
   */
  async advanceTo(epochMs: number, options: { fireAtTarget?: boolean } = {}): Promise<void> {
    if (epochMs < this.current) {
      throw new TestClockError(
        TestingErrorCode.ClockBackwards,
        `The test clock only moves forward: it reads ${this.current}, asked for ${epochMs}.`,
      );
    }
    const fireAtTarget = options.fireAtTarget ?? true;
    await this.exclusively(async () => {
      await this.fireDue(this.current, true);
      await this.fireDue(epochMs, fireAtTarget);
      this.current = epochMs;
      if (fireAtTarget) await this.fireDue(epochMs, true);
    });
  }

  /**
   * Lets PSI and the engine finish what they are doing, firing the timers due now (a
   * zero-delay timer, a deadline the clock already reached), without moving the clock.
   */
  runUntilIdle(): Promise<void> {
    return this.exclusively(() => this.fireDue(this.current, true));
  }

  /** Drops every timer (the environment is disposed). */
  clearAll(): void {
    this.pending.clear();
  }

  private async exclusively(work: () => Promise<void>): Promise<void> {
    if (this.moving) {
      throw new TestClockError(
        TestingErrorCode.ClockBusy,
        'The test clock is still moving: await advance() / runUntilIdle() before moving it again.',
      );
    }
    this.moving = true;
    try {
      await work();
    } finally {
      this.moving = false;
    }
  }

  /** Fires every timer due until `until` (inclusive or not), each after the last one's work. */
  private async fireDue(until: number, inclusive: boolean): Promise<void> {
    await this.quiet();
    for (;;) {
      const next = this.earliest(until, inclusive);
      if (!next) return;
      this.pending.delete(next.id);
      this.current = Math.max(this.current, next.dueAt);
      this.fire(next);
      await this.quiet();
    }
  }

  private fire(timer: PendingTimer): void {
    try {
      const result = timer.callback();
      if (isThenable(result)) {
        const work = Promise.resolve(result).catch(this.onError);
        this.working.add(work);
        void work.finally(() => this.working.delete(work));
      }
    } catch (error) {
      this.onError(error);
    }
  }

  private async quiet(): Promise<void> {
    do {
      while (this.working.size > 0) await Promise.allSettled([...this.working]);
      await this.settle();
    } while (this.working.size > 0);
  }

  private earliest(until: number, inclusive: boolean): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const timer of this.pending.values()) {
      if (inclusive ? timer.dueAt > until : timer.dueAt >= until) continue;
      if (!best || timer.dueAt < best.dueAt || (timer.dueAt === best.dueAt && timer.id < best.id))
        best = timer;
    }
    return best;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
