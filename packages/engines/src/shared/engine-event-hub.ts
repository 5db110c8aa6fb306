import type { EngineEvent, EngineEventListener } from '@psi/core';

/**
 * The listener side of a PEAL plugin: `subscribe`, and an `emit` that isolates listeners from the
 * engine (a listener that throws or rejects is reported to `onError`, never to the engine's own
 * work). Background failures of the plugin go to the same `onError`.
 */
export class EngineEventHub {
  private readonly listeners = new Set<EngineEventListener>();
  // The work listeners started and returned (see EngineEventListener), until it settles.
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;

  constructor(private readonly onError: (error: unknown) => void) {}

  subscribe(listener: EngineEventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Hands `events` to every listener, in order; nothing once the hub is closed. */
  emit(events: readonly EngineEvent[]): void {
    if (this.closed) return;
    for (const event of events) {
      for (const listener of [...this.listeners]) {
        try {
          const result: unknown = listener(event);
          if (result instanceof Promise) void this.background(result);
        } catch (error) {
          this.report(error);
        }
      }
    }
  }

  /**
   * Lets `work` run on; its failure is reported instead of floating away. The promise returned
   * never rejects: a timer callback returns it so a test clock can wait for the work it started.
   */
  background(work: Promise<unknown>): Promise<void> {
    const settled = work.then(
      () => undefined,
      (error: unknown) => this.report(error),
    );
    this.pending.add(settled);
    void settled.finally(() => this.pending.delete(settled));
    return settled;
  }

  /**
   * Resolves once the listener work started before the call has settled (how `restore()`
   * paces itself); work started meanwhile (live traffic, the events that work raises) is not
   * waited for, so a busy node does not hold a restore back.
   */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  report(error: unknown): void {
    try {
      this.onError(error);
    } catch {
      // An error handler that throws has nowhere left to report to.
    }
  }

  /** No event is emitted after this (the plugin is stopping). */
  close(): void {
    this.closed = true;
  }
}
