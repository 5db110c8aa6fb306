/**
 * An async mutex per key: tasks for one key run one after the other, in call order; tasks for
 * different keys run concurrently. The coordinator serialises work per instance with it, and
 * engine plugins use it so that concurrent signals on one instance never interleave.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** @param onQueued told +1 when a task queues behind another, -1 when it starts (TaskTracker). */
  constructor(private readonly onQueued?: (delta: 1 | -1) => void) {}

  /** Runs `task` once every earlier task for `key` has settled; resolves or rejects with it. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const queuedBehind = this.tails.get(key);
    const previous = queuedBehind ?? Promise.resolve();
    const { onQueued } = this;
    if (queuedBehind && onQueued) onQueued(1);
    const result =
      queuedBehind && onQueued
        ? previous.then(() => {
            onQueued(-1);
            return task();
          })
        : previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Resolves once every task queued so far (on any key) has settled. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }

  /** Whether a task for `key` is running or queued. */
  isBusy(key: string): boolean {
    return this.tails.has(key);
  }
}
