import type { Audit, AuditLog } from '../records/audit-log';
import type { DeadLetterQueue } from '../records/dead-letters';
import { takeOutParkedAnswer } from '../records/parked-answers';
import { forceReleaseGuard } from '../records/process-guard';
import { messageFromParked } from '../correlation/received-message';
import type { AuditKind } from '../store/entities/audit-entry.entity';
import type {
  InjectedAnswer,
  ItemOutcome,
  OperatorAction,
  OperatorContext,
} from './operation-types';

/** The run an item belongs to: who acts and why, and an injected answer. */
export interface OperationContext {
  operationId?: string;
  by: OperatorContext;
  message?: InjectedAnswer;
}

/**
 * Carries out actions on single targets. `resumed`: a node that died may have done part of it
 * (the item was started and never settled); the executor must not do it twice.
 */
export interface ActionExecutor {
  readonly actions: readonly OperatorAction[];
  execute(
    action: OperatorAction,
    target: string,
    context: OperationContext,
    resumed: boolean,
  ): Promise<ItemOutcome>;
}

/** The audit entry of an operator action: actor, reason and channel first, then the specifics. */
export function operatorEntry(
  kind: AuditKind,
  context: OperationContext,
  subject: { instanceId?: string | null; invocationId?: string | null },
  detail: Record<string, unknown>,
): Parameters<Audit>[0] {
  return {
    kind,
    instanceId: subject.instanceId ?? undefined,
    invocationId: subject.invocationId ?? undefined,
    detail: {
      actor: context.by.actor,
      reason: context.by.reason,
      channel: context.by.channel,
      ...(context.operationId ? { operationId: context.operationId } : {}),
      ...detail,
    },
  };
}

export const skipped = (message: string, instanceId?: string): ItemOutcome => ({
  status: 'skipped',
  message,
  instanceId,
});

/**
 * The actions that are writes in the store only, so any process with the store can run them (the
 * CLI too, with no coordinator running): discard a dead letter, expire a parked answer (it becomes
 * an `expired` dead letter now), release a process guard.
 */
export class StoreActions implements ActionExecutor {
  readonly actions: readonly OperatorAction[] = ['discard', 'expire-parked', 'release-guard'];

  constructor(
    private readonly audit: AuditLog,
    private readonly deadLetters: DeadLetterQueue,
    private readonly clock: () => number,
  ) {}

  execute(action: OperatorAction, target: string, context: OperationContext): Promise<ItemOutcome> {
    switch (action) {
      case 'discard':
        return this.discard(target, context);
      case 'expire-parked':
        return this.expireParked(target, context);
      case 'release-guard':
        return this.releaseGuard(target, context);
      default:
        throw new Error(`StoreActions cannot run "${action}"`);
    }
  }

  /** Marks an open dead letter discarded, with an audit entry. */
  discard(id: string, context: OperationContext): Promise<ItemOutcome> {
    return this.audit.transaction(async (tx, write) => {
      const letter = await this.deadLetters.load(tx, id);
      if (!letter) return { status: 'failed', message: `no dead letter ${id}` };
      if (!(await this.deadLetters.resolve(tx, id, 'discarded'))) {
        return skipped(`not open (${letter.status})`, letter.instanceId);
      }
      await write(
        operatorEntry(
          'discarded',
          context,
          { instanceId: letter.instanceId },
          { deadLetterId: id, event: letter.event, deadLetterReason: letter.reason },
        ),
      );
      return { status: 'succeeded', message: 'discarded', instanceId: letter.instanceId };
    });
  }

  private expireParked(target: string, context: OperationContext): Promise<ItemOutcome> {
    return this.audit.transaction(async (tx, write) => {
      const row = /^\d+$/.test(target) ? await takeOutParkedAnswer(tx, Number(target)) : null;
      if (!row) return skipped('no longer parked (delivered or expired)');
      const receive = await this.deadLetters.add(tx, write, messageFromParked(row), 'expired', {
        detail: {
          parkedAt: row.receivedAt,
          expiresAt: row.expiresAt,
          expiredBy: context.by.actor,
          expiredAt: this.clock(),
        },
        instanceId: row.instanceId,
        expectationId: row.expectationId,
      });
      await write(
        operatorEntry(
          'parked-expired',
          context,
          { instanceId: row.instanceId },
          { parkedId: target, event: row.event, messageId: row.messageId, outcome: receive },
        ),
      );
      return {
        status: 'succeeded',
        message: 'expired now: dead letter written',
        instanceId: row.instanceId ?? undefined,
        receive,
      };
    });
  }

  private releaseGuard(id: string, context: OperationContext): Promise<ItemOutcome> {
    return this.audit.transaction(async (tx, write) => {
      const held = await forceReleaseGuard(tx, id, this.clock());
      if (!held) return skipped('not held');
      await write(
        operatorEntry(
          'guard-released',
          context,
          {},
          { guardId: id, owner: held.owner, startedAt: held.startedAt, expiresAt: held.expiresAt },
        ),
      );
      return { status: 'succeeded', message: `released (was held by ${held.owner})` };
    });
  }
}
