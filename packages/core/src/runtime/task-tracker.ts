/**
 * Background work started by engine events and timers: tracked so `close()` can wait for it, and
 * its failures reported instead of floating away.
 */
export class TaskTracker {
  private readonly running = new Set<Promise<unknown>>();
  // Tasks waiting on the clock (a backoff), and who waits for `quiet()` to change.
  private sleeping = 0;
  private readonly changed = new Set<() => void>();

  constructor(private readonly onError: (error: unknown, what: string) => void) {}

  track(what: string, work: () => Promise<unknown>): void {
    const task = Promise.resolve()
      .then(work)
      .catch((error: unknown) => this.onError(error, what));
    this.running.add(task);
    void task.finally(() => {
      this.running.delete(task);
      this.notify();
    });
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

  /** Resolves once every running task only waits on the clock (none at all, or a backoff). */
  async quiet(): Promise<void> {
    while (this.running.size > this.sleeping) {
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
