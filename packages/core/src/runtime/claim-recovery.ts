import type { EntityManager } from 'typeorm';
import { PsiError, PsiErrorCode } from '../errors';
import type { ProcessEngine } from '../spi/process-engine';
import { DeadLetterEntity } from '../store/entities/dead-letter.entity';
import { ExpectationEntity } from '../store/entities/expectation.entity';
import type { Audit, AuditLog } from './audit-log';
import type { CoordinatorStats } from './coordinator-stats';
import type { Correlator } from './correlator';
import type { DeadLetterQueue } from './dead-letter-queue';
import type { KeyedMutex } from './keyed-mutex';
import { NodeLeases } from './node-leases';
import type { ReceivedMessage } from './received-message';
import { PsiSignalIds } from './signal-ids';
import { updateRows } from '../store/row-statements';

/**
 * Settles deliveries a dead node left half done: the expectation is `claimed`, its claim lapsed.
 *
 * The dead node claimed the expectation (with the answer), then ran the handler and signalled the
 * engine, then would have marked it delivered. Which of these happened is read from the engine:
 *
 * - the engine took the answer's signal (an engine that keeps signal ids knows, even when the
 *   instance has come back to the same wait state since; for one that does not, the instance
 *   having left the wait state stands for it): the delivery is recorded as done (`delivered`,
 *   audit entry with `recovered: true`); the handler is not run again;
 * - the instance is still at the wait state and did not take the signal: the handler may or may
 *   not have run (its side effects are unknown), so it is **not** run again: the answer becomes
 *   an `interrupted` dead letter (replay delivers it) and the expectation (and the group it
 *   closed) is open again, so its deadline or a replay decides;
 * - the instance has left the wait state and the engine says it did not take the signal (it
 *   moved on by another way, e.g. a signal from outside): the answer can no longer be delivered,
 *   so it becomes a `late` dead letter and the expectation is `cancelled`, as when an instance
 *   ends with answers still parked. Without signal ids this case cannot be told from the first.
 *
 * An instance this node's engine does not know (an engine whose instances live in one node) is
 * left to a node whose engine does.
 */
export class ClaimRecovery {
  constructor(
    private readonly deps: {
      audit: AuditLog;
      engine: ProcessEngine;
      correlator: Correlator;
      deadLetters: DeadLetterQueue;
      leases: NodeLeases;
      instanceMutex: KeyedMutex;
      stats: CoordinatorStats;
      clock: () => number;
    },
  ) {}

  settle(expectation: ExpectationEntity): Promise<void> {
    return this.deps.instanceMutex.run(expectation.instanceId, () => this.settleNow(expectation));
  }

  private async settleNow(expectation: ExpectationEntity): Promise<void> {
    const { audit, leases, correlator, clock } = this.deps;
    let states: readonly string[];
    try {
      states = await this.deps.engine.getWaitStates(expectation.instanceId);
    } catch (error) {
      if (PsiError.is(error) && error.code === PsiErrorCode.InstanceNotFound) return;
      throw error;
    }
    const interruptedNode = expectation.claimedBy;
    const message = parseMessage(expectation.claimedMessage);
    const atWaitState = states.includes(expectation.waitState);
    const taken = await this.answerTaken(expectation);
    if (taken === 'unknown' ? !atWaitState : taken) {
      await audit.transaction(async (tx, write) => {
        // A repeating entry stays open for its next answer.
        const settled = await leases.settleLapsedClaim(
          tx,
          expectation,
          expectation.repeats ? { status: 'open' } : { status: 'delivered', closedAt: clock() },
        );
        if (!settled) return;
        await correlator.completeInvocationIfDone(tx, expectation.invocationId);
        await write({
          kind: 'delivered',
          instanceId: expectation.instanceId,
          invocationId: expectation.invocationId,
          detail: {
            event: expectation.event,
            waitState: expectation.waitState,
            recovered: true,
            interruptedNode,
          },
        });
      });
      return;
    }
    const deadLettered = atWaitState
      ? await this.reopen(expectation, interruptedNode, message)
      : await this.cancel(expectation, interruptedNode, message);
    if (deadLettered) this.deps.stats.deadLettered++;
  }

  /** The instance still waits: the expectation is open again, the answer an `interrupted` letter. */
  private reopen(
    expectation: ExpectationEntity,
    interruptedNode: string | null,
    message: ReceivedMessage | null,
  ): Promise<boolean> {
    const { audit, leases } = this.deps;
    return audit.transaction(async (tx, write) => {
      const settled = await leases.settleLapsedClaim(tx, expectation, { status: 'open' });
      if (!settled) return false;
      if (expectation.groupId) {
        // The claim closed its group; nothing else could win the group since.
        await updateRows(
          tx,
          ExpectationEntity,
          {
            invocationId: expectation.invocationId,
            groupId: expectation.groupId,
            status: 'superseded',
          },
          { status: 'open', closedAt: null },
        );
      }
      if (!message) return false;
      await this.deadLetter(tx, write, expectation, message, 'interrupted', {
        interruptedNode,
        note: 'the node delivering this answer stopped after claiming it; the handler may have run, so it was not run again; replay to deliver it',
      });
      return true;
    });
  }

  /** The instance moved on without the answer: the expectation is cancelled, the answer `late`. */
  private cancel(
    expectation: ExpectationEntity,
    interruptedNode: string | null,
    message: ReceivedMessage | null,
  ): Promise<boolean> {
    const { audit, leases, correlator, clock } = this.deps;
    return audit.transaction(async (tx, write) => {
      const settled = await leases.settleLapsedClaim(tx, expectation, {
        status: 'cancelled',
        closedAt: clock(),
      });
      if (!settled) return false;
      await correlator.completeInvocationIfDone(tx, expectation.invocationId);
      if (!message) return false;
      await this.deadLetter(tx, write, expectation, message, 'late', {
        interruptedNode,
        note: 'the node delivering this answer stopped after claiming it, and the instance left the wait state without it',
      });
      return true;
    });
  }

  private async deadLetter(
    tx: EntityManager,
    write: Audit,
    expectation: ExpectationEntity,
    message: ReceivedMessage,
    reason: 'interrupted' | 'late',
    detail: { interruptedNode: string | null; note: string },
  ): Promise<void> {
    await this.deps.deadLetters.add(tx, write, message, reason, {
      detail: {
        interruptedNode: detail.interruptedNode,
        waitState: expectation.waitState,
        note: detail.note,
      },
      instanceId: expectation.instanceId,
      expectationId: expectation.id,
    });
  }

  /** Whether the engine took the claimed answer's signal; `unknown` without signal ids. */
  private async answerTaken(expectation: ExpectationEntity): Promise<boolean | 'unknown'> {
    const engine = this.deps.engine;
    if (!engine.hasAppliedSignal) return 'unknown';
    const messageId = expectation.repeats
      ? parseMessage(expectation.claimedMessage)?.messageId
      : undefined;
    return engine.hasAppliedSignal(
      expectation.instanceId,
      PsiSignalIds.answer(expectation.id, messageId),
    );
  }
}

/**
 * A delivery finished after its claim had lapsed and another node had settled it as interrupted
 * (the delivering node stalled longer than the lease, it did not die): the engine took the
 * answer, so it is delivered after all, its group closed again and the `interrupted` dead letter
 * discarded. Runs in the transaction that records the delivery.
 */
export async function overruleInterruption(
  tx: EntityManager,
  expectation: ExpectationEntity,
  now: number,
): Promise<void> {
  await updateRows(
    tx,
    ExpectationEntity,
    { id: expectation.id },
    { status: 'delivered', closedAt: now, ...NodeLeases.unclaimed },
  );
  if (expectation.groupId) {
    await updateRows(
      tx,
      ExpectationEntity,
      { invocationId: expectation.invocationId, groupId: expectation.groupId, status: 'open' },
      { status: 'superseded', closedAt: now },
    );
  }
  await updateRows(
    tx,
    DeadLetterEntity,
    { expectationId: expectation.id, reason: 'interrupted', status: 'open' },
    { status: 'discarded', resolvedAt: now },
  );
}

function parseMessage(json: string | null): ReceivedMessage | null {
  return json === null ? null : (JSON.parse(json) as ReceivedMessage);
}
