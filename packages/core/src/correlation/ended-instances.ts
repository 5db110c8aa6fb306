import type { EntityManager } from 'typeorm';
import type { ProcessEngine } from '../spi/process-engine';
import { PsiError, PsiErrorCode } from '../errors';
import {
  cancelOpenOfInstance,
  pendingTimeouts as pendingTimeoutsOf,
  settleTimeout,
  type Expectation,
} from '../records/expectations';
import { parkedForInstance, takeParkedAnswer } from '../records/parked-answers';
import type { Audit, AuditLog } from '../records/audit-log';
import type { CompiledCoordinatorOptions } from '../runtime/coordinator-options';
import type { Instrumentation } from '../observability/instrumentation';
import type { DeadLetterQueue } from '../records/dead-letters';
import { messageFromParked } from './received-message';
import { PsiSignalIds } from '../runtime/signal-ids';

/** How many instances settled by their last delivery are remembered for their ended event. */
const SETTLED_HINTS = 10_000;

/** What settling an ended instance's leftovers did. */
export interface EndedSettlement {
  /** Parked answers dead-lettered `late`. */
  parked: number;
  /** Timeouts that won their claim but could not be signalled any more, settled unsignalled. */
  pendingTimeouts: number;
}

/**
 * What an ended instance leaves behind is settled at once: its open expectations are
 * cancelled, its parked answers become `late` dead letters, and timeouts still waiting to be
 * signalled are settled without a signal (one `timed-out` audit entry each). Runs on the
 * `instance-ended` event, and for instances a crash left with leftovers (found at start, or
 * when an answer or a timeout finds the instance ended).
 */
export class EndedInstances {
  /**
   * Instances whose leftovers a delivery's record settled, in the commit that ended them: the
   * `instance-ended` event that follows has nothing left to do. A hint, bounded: an instance
   * not found here is settled again, which changes nothing twice.
   */
  private readonly settledByDelivery = new Map<string, EndedSettlement>();

  constructor(
    private readonly deps: {
      options: CompiledCoordinatorOptions;
      audit: AuditLog;
      engine: ProcessEngine;
      deadLetters: DeadLetterQueue;
      instrumentation: Instrumentation;
    },
  ) {}

  /** Whether the engine says the instance ended; false when it cannot tell or does not know it. */
  async hasEnded(instanceId: string): Promise<boolean> {
    if (!this.deps.engine.isEnded) return false;
    try {
      return await this.deps.engine.isEnded(instanceId);
    } catch (error) {
      if (PsiError.is(error) && error.code === PsiErrorCode.InstanceNotFound) return false;
      throw error;
    }
  }

  /**
   * Settles an ended instance's leftovers inside the unit of work that records the delivery
   * that ended it (and commits its final state): one transaction fewer per instance. Not when a
   * timeout is pending: that needs the engine's word between units, and the `instance-ended`
   * event settles it then. True when settled.
   */
  async settleWithDelivery(tx: EntityManager, write: Audit, instanceId: string): Promise<boolean> {
    if ((await pendingTimeoutsOf(tx, instanceId)).length > 0) return false;
    const settled = await this.settleIn(tx, write, instanceId, [], new Map());
    write.afterCommit(() => {
      if (this.settledByDelivery.size >= SETTLED_HINTS) {
        const oldest = this.settledByDelivery.keys().next().value;
        if (oldest !== undefined) this.settledByDelivery.delete(oldest);
      }
      this.settledByDelivery.set(instanceId, settled);
    });
    return true;
  }

  /** Settles the instance's leftovers; the caller holds the instance's lock. */
  async settle(instanceId: string): Promise<EndedSettlement> {
    const byDelivery = this.settledByDelivery.get(instanceId);
    if (byDelivery) {
      this.settledByDelivery.delete(instanceId);
      return byDelivery;
    }
    const { audit } = this.deps;
    // Usually no timeout is pending: then the read and the settling are one unit of work. A
    // pending timeout needs the engine's word (a unit does not wait on engines) in between.
    const first = await audit.transaction(async (tx, write) => {
      const pending = await pendingTimeoutsOf(tx, instanceId);
      if (pending.length > 0) return { pending };
      return { settled: await this.settleIn(tx, write, instanceId, [], new Map()) };
    });
    if (first.settled) return first.settled;
    const pending = first.pending;
    const taken = new Map<string, boolean>();
    for (const expectation of pending)
      taken.set(expectation.id, await this.timeoutTaken(expectation));
    return audit.transaction((tx, write) => this.settleIn(tx, write, instanceId, pending, taken));
  }

  /** Cancels what is open, settles the pending timeouts read before, makes parked answers late. */
  private async settleIn(
    tx: EntityManager,
    write: Audit,
    instanceId: string,
    pending: readonly Expectation[],
    taken: ReadonlyMap<string, boolean>,
  ): Promise<EndedSettlement> {
    const { options, deadLetters, instrumentation } = this.deps;
    const now = options.clock();
    await cancelOpenOfInstance(tx, instanceId, now);
    let pendingTimeouts = 0;
    for (const expectation of pending) {
      if (!(await settleTimeout(tx, expectation.id))) continue;
      pendingTimeouts++;
      await write({
        kind: 'timed-out',
        instanceId,
        invocationId: expectation.invocationId,
        detail: {
          event: expectation.event,
          waitState: expectation.waitState,
          deadline: expectation.deadline,
          signalled: false,
          reason: taken.get(expectation.id)
            ? 'the engine took this signal before a restart'
            : 'the instance ended before the timeout could be signalled',
        },
      });
    }
    const parked = await parkedForInstance(tx, instanceId);
    let late = 0;
    for (const row of parked) {
      if (!(await takeParkedAnswer(tx, row.seq))) continue;
      late++;
      const message = messageFromParked(row);
      write.afterCommit(() => instrumentation.deadLettered(message, 'late'));
      await deadLetters.add(tx, write, message, 'late', {
        detail: { instanceEnded: true },
        instanceId,
        expectationId: row.expectationId,
      });
    }
    return { parked: late, pendingTimeouts };
  }

  private async timeoutTaken(expectation: Expectation): Promise<boolean> {
    const engine = this.deps.engine;
    if (!engine.hasAppliedSignal) return false;
    try {
      return await engine.hasAppliedSignal(
        expectation.instanceId,
        PsiSignalIds.timeout(expectation.id),
      );
    } catch (error) {
      if (PsiError.is(error) && error.code === PsiErrorCode.InstanceNotFound) return false;
      throw error;
    }
  }
}
