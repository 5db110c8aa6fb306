/**
 * The time PSI reads and the timers it sets for its semantics: deadlines, parking TTLs, retry
 * backoff, leases and claims, retention, and the timestamps written to the store. The default is
 * the machine's; `@psi/testing` passes a clock the test moves (and hands the same one to the
 * engine, whose `EngineTimers` a PsiClock fits), so a 7-day TTL runs out in milliseconds.
 * Infrastructure timing (connection retries, liveness, PostgreSQL notices) stays on real time.
 */
export interface PsiClock {
  /** Epoch ms. */
  now(): number;
  /** Runs `callback` once `delayMs` have passed on this clock; returns a handle for `clearTimeout`. */
  setTimeout(callback: () => void, delayMs: number): unknown;
  /** Cancels a timer of this clock; an unknown or fired handle is ignored. */
  clearTimeout(handle: unknown): void;
}

/** The machine's clock and Node's timers, looked up at call time (so jest's fake timers apply). */
export const systemClock: PsiClock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** A clock from a bare `() => number` (the older `clock` option): its timers are Node's. */
export function toPsiClock(clock: PsiClock | (() => number) | undefined): PsiClock {
  if (clock === undefined) return systemClock;
  if (typeof clock !== 'function') return clock;
  return { ...systemClock, now: clock };
}

/** Lets a timer of the system clock not keep the process alive (other clocks' handles: no-op). */
export function unrefTimer(handle: unknown): void {
  (handle as { unref?: () => void } | undefined)?.unref?.();
}
