import type { AuditLog } from '../records/audit-log';
import type { CompiledCoordinatorOptions } from '../runtime/coordinator-options';
import type { FlowSignals } from '../runtime/flow-signals';
import type { Instrumentation } from '../observability/instrumentation';
import type { Correlator } from '../correlation/correlator';
import {
  dueDeadlines,
  nextDeadline,
  timeOutAndCloseGroup,
  type Expectation,
} from '../records/expectations';
import type { DeadLetterQueue } from '../records/dead-letters';
import { forgetInboundIdsBefore } from '../records/inbound-ids';
import {
  expiredParkedAnswers,
  hasParkedAnswerFor,
  nextParkingExpiry,
  takeParkedAnswer,
} from '../records/parked-answers';
import type { KeyedMutex } from '../runtime/keyed-mutex';
import { messageFromParked } from '../correlation/received-message';
import type { TaskTracker } from '../runtime/task-tracker';

// An idle wake-up only asks for the next due time; every this many, it runs a full round (the
// dedupe window's clean-up) even when nothing fell due.
const POLLS_PER_ROUND = 30;

/**
 * Fires what is due: expectation deadlines (an atomic claim against any answer racing it) and
 * parking TTLs (parked answers become `expired` dead letters). It sleeps until the earliest due
 * time in the store, so a deadline that passed while nothing ran fires at start.
 */
export class DeadlineScheduler {
  private timer: unknown;
  private timerAt = Number.POSITIVE_INFINITY;
  private stopped = true;
  private firing = false;
  private refireRequested = false;
  private polls = 0;

  constructor(
    private readonly deps: {
      options: CompiledCoordinatorOptions;
      audit: AuditLog;
      correlator: Correlator;
      deadLetters: DeadLetterQueue;
      instanceMutex: KeyedMutex;
      tasks: TaskTracker;
      instrumentation: Instrumentation;
      /** Tells the other nodes about a timeout this node could not signal. */
      signals: FlowSignals;
    },
  ) {}

  start(): void {
    this.stopped = false;
    this.wake();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.deps.options.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Something becomes due at `at`; sleep less if that is earlier than planned. */
  notify(at: number): void {
    if (this.stopped || at >= this.timerAt) return;
    this.arm(at);
  }

  /** Fires everything due now, then sleeps until the next due time. */
  wake(): void {
    if (this.stopped) return;
    if (this.firing) {
      this.refireRequested = true;
      return;
    }
    this.firing = true;
    this.deps.tasks.track('deadline scheduler', async () => {
      try {
        do {
          this.refireRequested = false;
          await this.fireDue();
        } while (this.refireRequested && !this.stopped);
        if (!this.stopped) this.arm(await this.nextDueAt());
      } catch (error) {
        // The store is unreachable (longer than its retries): try again after the longest sleep.
        if (!this.stopped) this.arm(this.deps.options.clock() + this.retryAfterMs());
        throw error;
      } finally {
        this.firing = false;
      }
    });
  }

  private arm(at: number): void {
    const { timers, clock, deadlinePollMs } = this.deps.options;
    if (this.timer) timers.clearTimeout(this.timer);
    this.timer = undefined;
    const now = clock();
    // The longest sleep (deadlinePollMs) bounds how late a deadline another node wrote is noticed.
    const delay = Math.max(0, Math.min(at - now, deadlinePollMs));
    // Nothing is due by the end of this sleep as far as the store said: it is a poll for
    // deadlines other nodes write.
    const poll = at - now > deadlinePollMs;
    this.timerAt = now + delay;
    if (!Number.isFinite(delay)) return; // nothing due and no other writer to poll for
    this.timer = timers.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      if (poll && ++this.polls % POLLS_PER_ROUND !== 0) this.poll();
      else this.wake();
    }, delay);
  }

  /** After a failure (the store unreachable): the poll interval, at most a second. */
  private retryAfterMs(): number {
    return Math.min(this.deps.options.deadlinePollMs, 1_000);
  }

  /**
   * An idle node's wake-up: one read of the next due time (an index's first entry), and a full
   * round only when something is due. Keeps an idle node's background work near zero.
   */
  private poll(): void {
    if (this.stopped || this.firing) return;
    this.deps.tasks.track('deadline poll', async () => {
      let next: number;
      try {
        next = await this.nextDueAt();
      } catch (error) {
        if (!this.stopped) this.arm(this.deps.options.clock() + this.retryAfterMs());
        throw error;
      }
      if (this.stopped || this.timer) return; // stopped, or a notify() armed it meanwhile
      if (next <= this.deps.options.clock()) this.wake();
      else this.arm(next);
    });
  }

  private async fireDue(): Promise<void> {
    const now = this.deps.options.clock();
    const due = await this.deps.audit.transaction((tx) => dueDeadlines(tx, now));
    await Promise.all(
      due.map((expectation) =>
        this.deps.instanceMutex.run(expectation.instanceId, () => this.timeOut(expectation, now)),
      ),
    );
    await this.expireParked(now);
    await this.deps.audit.transaction((tx) =>
      forgetInboundIdsBefore(tx, now - this.deps.options.dedupeWindowMs),
    );
  }

  private async timeOut(expectation: Expectation, now: number): Promise<void> {
    const won = await this.deps.audit.transaction(async (tx) => {
      // An answer parked before the deadline wins over it: it only waits for the instance.
      if (await hasParkedAnswerFor(tx, expectation.id)) return false;
      if (!(await timeOutAndCloseGroup(tx, expectation, now))) return false;
      // The invocation is done once the claim commits, whether or not the signal follows (a node
      // that dies between signal and bookkeeping must not leave it `waiting`). The audit entry
      // is written once, when the timeout is signalled or settled.
      await this.deps.correlator.completeInvocationIfDone(tx, expectation.invocationId);
      return true;
    });
    if (!won) return;
    this.deps.instrumentation.timedOut(expectation);
    const signalled = await this.deps.correlator.signalTimeout({
      ...expectation,
      status: 'timed-out',
      timeoutPending: true,
    });
    if (signalled) return;
    // Ended meanwhile (its end event lost in a crash): nothing will ever take the timeout.
    if (await this.deps.correlator.settleIfEndedNow(expectation.instanceId)) return;
    this.deps.signals.announce(expectation.instanceId);
  }

  private async expireParked(now: number): Promise<void> {
    const expired = await this.deps.audit.transaction((tx) => expiredParkedAnswers(tx, now));
    for (const row of expired) {
      await this.deps.audit.transaction(async (tx, audit) => {
        if (!(await takeParkedAnswer(tx, row.seq))) return; // delivered meanwhile
        const message = messageFromParked(row);
        audit.afterCommit(() =>
          this.deps.instrumentation.deadLettered(message, 'expired', {
            id: row.expectationId,
            instanceId: row.instanceId,
          }),
        );
        await this.deps.deadLetters.add(tx, audit, message, 'expired', {
          detail: { parkedAt: row.receivedAt, expiresAt: row.expiresAt },
          instanceId: row.instanceId,
          expectationId: row.expectationId,
        });
      });
    }
  }

  private async nextDueAt(): Promise<number> {
    return this.deps.options.store.read(async (tx) => {
      const candidates = [await nextDeadline(tx), await nextParkingExpiry(tx)].filter(
        (at): at is number => at !== null,
      );
      return candidates.length > 0 ? Math.min(...candidates) : Number.POSITIVE_INFINITY;
    });
  }
}
