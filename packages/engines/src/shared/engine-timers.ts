/**
 * The timer functions the engine uses, injectable so tests and simulations control time.
 * Any `{ setTimeout, clearTimeout }` pair fits, e.g. the globals or {@link ManualTimers}.
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
