/**
 * The timer functions the engine uses, injectable so tests and simulations control time.
 * Any `{ setTimeout, clearTimeout }` pair fits, e.g. the globals, {@link ManualTimers} or a
 * `PsiClock` (`@psi/testing` hands the engine the clock PSI runs on). A callback may return
 * the promise of the work it started, for timers that wait for it (a test clock).
 */
export interface EngineTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The global timers, looked up at call time (so jest's fake timers apply too). */
export const globalEngineTimers: EngineTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
