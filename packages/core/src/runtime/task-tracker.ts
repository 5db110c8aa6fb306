/**
 * Background work started by engine events and timers: tracked so `close()` can wait for it, and
 * its failures reported instead of floating away.
 */
export class TaskTracker {
  private readonly running = new Set<Promise<unknown>>();

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
    void task.finally(() => this.running.delete(task));
    return task;
  }

  /** Resolves once nothing is running, including work started while waiting. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
