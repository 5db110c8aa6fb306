interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** The callers of a plugin's `whenEnded`, per instance, settled when the instance ends. */
export class EndWaiters<T> {
  private readonly waiters = new Map<string, Set<Waiter<T>>>();

  /**
   * Resolves with the instance's final value. `currentIfEnded` is asked once, after the waiter is
   * registered (so an end in between is not missed): it returns the value when the instance has
   * already ended, `undefined` while it runs, or throws (unknown instance, stopped plugin).
   */
  async waitFor(instanceId: string, currentIfEnded: () => Promise<T | undefined>): Promise<T> {
    let waiter: Waiter<T> | undefined;
    const ended = new Promise<T>((resolve, reject) => {
      waiter = { resolve, reject };
    });
    // rejectAll may reject it before we return it; the caller then gets the error thrown below.
    ended.catch(() => undefined);
    const own = waiter as Waiter<T>;
    const set = this.waiters.get(instanceId) ?? new Set<Waiter<T>>();
    set.add(own);
    this.waiters.set(instanceId, set);
    try {
      const current = await currentIfEnded();
      if (current !== undefined) {
        this.remove(instanceId, own);
        return current;
      }
    } catch (error) {
      this.remove(instanceId, own);
      throw error;
    }
    return ended;
  }

  /** The instance ended with `value`: every waiter resolves. */
  settle(instanceId: string, value: T): void {
    const waiters = this.waiters.get(instanceId);
    this.waiters.delete(instanceId);
    for (const waiter of waiters ?? []) waiter.resolve(value);
  }

  /** The plugin stopped: every waiter rejects with `error`. */
  rejectAll(error: unknown): void {
    for (const [instanceId, waiters] of this.waiters) {
      for (const waiter of waiters) waiter.reject(error);
      this.waiters.delete(instanceId);
    }
  }

  private remove(instanceId: string, waiter: Waiter<T>): void {
    const waiters = this.waiters.get(instanceId);
    waiters?.delete(waiter);
    if (waiters?.size === 0) this.waiters.delete(instanceId);
  }
}
