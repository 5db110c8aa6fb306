import type { EngineTimers } from './engine-timers';

interface PendingTimer {
  readonly handle: number;
  readonly dueAt: number;
  readonly callback: () => void;
}

/**
 * Timers and a clock that only move when told to: inject them into an engine
 * (`{ timers, clock: () => timers.now() }`) to test SLAs and timer steps without waiting.
 */
export class ManualTimers implements EngineTimers {
  private current: number;
  private nextHandle = 1;
  private readonly pending = new Map<number, PendingTimer>();

  /** @param startAt the clock's first reading, in epoch ms. @default 0 */
  constructor(startAt = 0) {
    this.current = startAt;
  }

  /** The clock: epoch ms as far as these timers are concerned. */
  now(): number {
    return this.current;
  }

  /** How many timers are armed and not yet fired or cleared. */
  get size(): number {
    return this.pending.size;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const handle = this.nextHandle++;
    this.pending.set(handle, { handle, dueAt: this.current + Math.max(0, ms), callback });
    return handle;
  }

  clearTimeout(handle: unknown): void {
    if (typeof handle === 'number') this.pending.delete(handle);
  }

  /**
   * Moves the clock forward by `ms`, firing every timer that falls due, earliest first (timers
   * armed by a callback fire too when they fall within the window).
   */
  advance(ms: number): void {
    const until = this.current + ms;
    for (;;) {
      const next = [...this.pending.values()]
        .filter((t) => t.dueAt <= until)
        .sort((a, b) => a.dueAt - b.dueAt || a.handle - b.handle)[0];
      if (!next) break;
      this.pending.delete(next.handle);
      this.current = Math.max(this.current, next.dueAt);
      next.callback();
    }
    this.current = until;
  }
}
