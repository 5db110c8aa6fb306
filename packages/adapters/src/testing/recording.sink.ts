import type { InboundMessage, InboundSink, ReceiveOutcome } from '@psi/core';

export interface RecordingSinkOptions {
  /**
   * What `receive` answers for the message at `index` (0-based); throw to refuse the message,
   * which is then not recorded. @default `{ status: 'parked', parkedId: 'recorded-<index>' }`
   */
  outcome?: (message: InboundMessage, index: number) => ReceiveOutcome | Promise<ReceiveOutcome>;
  /** How long `waitFor` waits before failing with what did arrive. @default 5000 */
  waitTimeoutMs?: number;
}

/**
 * An InboundSink for tests: records every message it accepts, in arrival order, and lets a test
 * await the Nth one without sleeping (resolved by `receive` itself, failed at a deadline).
 */
export class RecordingSink implements InboundSink {
  /** Accepted messages, in the order `receive` accepted them. */
  readonly messages: InboundMessage[] = [];
  private readonly waiters = new Set<{ count: number; resolve: () => void }>();
  private received = 0;

  constructor(private readonly options: RecordingSinkOptions = {}) {}

  async receive(message: InboundMessage): Promise<ReceiveOutcome> {
    const index = this.received++;
    const outcome = this.options.outcome
      ? await this.options.outcome(message, index)
      : { status: 'parked' as const, parkedId: `recorded-${index}` };
    this.messages.push(message);
    for (const waiter of [...this.waiters]) {
      if (this.messages.length >= waiter.count) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
    return outcome;
  }

  /** Resolves with all messages once at least `count` were accepted; rejects at the deadline. */
  async waitFor(
    count: number,
    timeoutMs = this.options.waitTimeoutMs ?? 5_000,
  ): Promise<InboundMessage[]> {
    if (this.messages.length < count) {
      let timer: NodeJS.Timeout | undefined;
      let waiter: { count: number; resolve: () => void } | undefined;
      try {
        await new Promise<void>((resolve, reject) => {
          waiter = { count, resolve };
          this.waiters.add(waiter);
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `RecordingSink: expected ${count} message(s) within ${timeoutMs} ms, got ${this.messages.length}: ${JSON.stringify(this.messages)}`,
                ),
              ),
            timeoutMs,
          );
        });
      } finally {
        clearTimeout(timer);
        if (waiter) this.waiters.delete(waiter);
      }
    }
    return [...this.messages];
  }

  /** The `n`th accepted message (1-based), once it has arrived. */
  async nth(n: number, timeoutMs?: number): Promise<InboundMessage> {
    const messages = await this.waitFor(n, timeoutMs);
    return messages[n - 1]!;
  }
}
