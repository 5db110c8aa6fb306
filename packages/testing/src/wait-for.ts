import { WaitTimedOutError } from './errors';

/**
 * Looks at `predicate` after each settle; between looks, waits for new activity (an engine or
 * audit event) or a short real pause, until `patienceMs` of real time have passed.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: {
    what: string;
    patienceMs: number;
    settle: () => Promise<void>;
    activity: () => number;
  },
): Promise<NonNullable<T>> {
  const giveUpAt = Date.now() + options.patienceMs;
  for (;;) {
    await options.settle();
    const value = await predicate();
    if (value) return value as NonNullable<T>;
    if (Date.now() >= giveUpAt) throw new WaitTimedOutError(options.what, options.patienceMs);
    // Work outside PSI (a service answering by itself) shows as activity; look again soon.
    const seen = options.activity();
    for (let i = 0; i < 10 && options.activity() === seen; i++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (options.activity() === seen) await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
