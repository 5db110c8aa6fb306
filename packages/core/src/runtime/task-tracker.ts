/**
 * Background work started by engine events and timers: tracked so `close()` can wait for it, and
 * its failures reported instead of floating away.
 */
export class TaskTracker {
  private readonly running = new Set<Promise<unknown>>();
  // Tasks waiting on the clock (a backoff), callers queued on a mutex (possibly behind one of
  // those), and who waits for `quiet()` to change.
  private sleeping = 0;
  private queued = 0;
  private readonly changed = new Set<() => void>();

  constructor(private readonly onError: (error: unknown, what: string) => void) {}

  track(what: string, work: () => Promise<unknown>): void {
    void this.run(what, work);
  }

  /** As `track`, returning a promise that settles with the work and never rejects. */
  run(what: string, work: () => Promise<unknown>): Promise<void> {
    const task = Promise.resolve()
      .then(work)
      .then(
        () => undefined,
        (error: unknown) => this.onError(error, what),
      );
    this.running.add(task);
    void task.finally(() => {
      this.running.delete(task);
      this.notify();
    });
    return task;
  }

  /** Marks a task as waiting on the clock until `wait` settles (see `quiet`). */
  async sleep<T>(wait: Promise<T>): Promise<T> {
    this.sleeping++;
    this.notify();
    try {
      return await wait;
    } finally {
      this.sleeping--;
      this.notify();
    }
  }

  /** Counts callers queued on a mutex (`new KeyedMutex(tasks.queuedOnMutex)`), for `quiet`. */
  readonly queuedOnMutex = (delta: 1 | -1): void => {
    this.queued += delta;
    this.notify();
  };

  /**
   * Resolves once every running task only waits on the clock: none runs, or each sleeps through
   * a backoff or is queued on a mutex (behind a sleeping one: a task that works holds it, and
   * counts as neither).
   */
  async quiet(): Promise<void> {
    while (this.running.size > this.sleeping + this.queued) {
      await new Promise<void>((resolve) => this.changed.add(resolve));
    }
  }

  private notify(): void {
    const waiting = [...this.changed];
    this.changed.clear();
    for (const resolve of waiting) resolve();
  }

  /** Resolves once nothing is running, including work started while waiting. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
