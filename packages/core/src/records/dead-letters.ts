import type { EntityManager } from 'typeorm';
import { DeadLetterNotFoundError } from '../errors';
import type { DeadLetterReason, ReceiveOutcome } from '../spi/transport';
import { invocationIdOfExpectation } from './expectations';
import { DeadLetterEntity, type DeadLetterStatus } from '../store/entities/dead-letter.entity';
import type { PsiStore } from '../store/psi-store';
import type { Audit } from './audit-log';
import { deleteBatchBefore, type DeletedBatch } from '../store/batch-delete';
import { findRow } from '../store/row-statements';
import { timeOrderedId } from '../store/time-ordered-id';

/** What a dead letter keeps of the answer (a received message has these fields). */
export interface DeadLetterMessage {
  messageId: string;
  event: string;
  correlationKey: string | null;
  businessKeys: string[];
  payloadText: string | null;
  source: string | null;
  receivedAt: number;
  /** The answer's receive span (W3C), kept so a replay's spans hang under it. */
  traceParent?: string | null;
  traceState?: string | null;
}

/** A dead letter as the API returns it. */
export interface DeadLetter {
  id: string;
  messageId: string;
  event: string;
  correlationKey?: string;
  businessKey?: string;
  payload: unknown;
  source?: string;
  reason: DeadLetterReason;
  detail?: unknown;
  instanceId?: string;
  expectationId?: string;
  status: DeadLetterStatus;
  receivedAt: number;
  createdAt: number;
  resolvedAt?: number;
  /** What its replay became, once replayed. */
  replayOutcome?: ReceiveOutcome;
  /** The W3C trace context of the answer's receive span, when it was traced. */
  traceParent?: string;
  traceState?: string;
}

export interface DeadLetterFilter {
  reason?: DeadLetterReason;
  status?: DeadLetterStatus;
  instanceId?: string;
}

/** Durable dead letters: written in the caller's transaction, listed and resolved by operators. */
export class DeadLetterQueue {
  constructor(
    private readonly store: PsiStore,
    private readonly clock: () => number,
  ) {}

  async add(
    tx: EntityManager,
    audit: Audit,
    message: DeadLetterMessage,
    reason: DeadLetterReason,
    context: {
      detail?: unknown;
      instanceId?: string | null;
      expectationId?: string | null;
      invocationId?: string | null;
    } = {},
  ): Promise<ReceiveOutcome> {
    const id = timeOrderedId();
    // The audit row names the invocation, so an instance's trail shows which call lost an answer.
    const invocationId =
      context.invocationId ??
      (context.expectationId
        ? await invocationIdOfExpectation(tx, context.expectationId)
        : undefined);
    await tx.insert(DeadLetterEntity, {
      id,
      messageId: message.messageId,
      event: message.event,
      correlationKey: message.correlationKey,
      businessKey: message.businessKeys[0] ?? null,
      payload: message.payloadText,
      source: message.source,
      reason,
      detail: context.detail === undefined ? null : JSON.stringify(context.detail),
      instanceId: context.instanceId ?? null,
      expectationId: context.expectationId ?? null,
      status: 'open',
      receivedAt: message.receivedAt,
      createdAt: this.clock(),
      resolvedAt: null,
      traceParent: message.traceParent ?? null,
      traceState: message.traceState ?? null,
    });
    await audit({
      kind: 'dead-lettered',
      instanceId: context.instanceId ?? undefined,
      invocationId: invocationId ?? undefined,
      correlationKey: message.correlationKey ?? undefined,
      messageId: message.messageId,
      detail: { deadLetterId: id, event: message.event, reason, detail: context.detail },
    });
    return { status: 'dead-lettered', deadLetterId: id, reason };
  }

  async list(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const rows = await this.store.transaction((tx) =>
      tx.find(DeadLetterEntity, {
        where: {
          reason: filter.reason,
          status: filter.status ?? 'open',
          instanceId: filter.instanceId,
        },
        // Ids increase with creation in a process: they order letters written in one ms.
        order: { createdAt: 'ASC', id: 'ASC' },
      }),
    );
    return rows.map(toDeadLetter);
  }

  async get(id: string): Promise<DeadLetter> {
    const row = await this.store.transaction((tx) => findRow(tx, DeadLetterEntity, { id }));
    if (!row) throw new DeadLetterNotFoundError(id);
    return toDeadLetter(row);
  }

  /** A dead letter read in the caller's transaction, or null. */
  async load(tx: EntityManager, id: string): Promise<DeadLetter | null> {
    const row = await findRow(tx, DeadLetterEntity, { id });
    return row ? toDeadLetter(row) : null;
  }

  /**
   * Marks an open dead letter resolved (with what its replay became); false when it was not
   * open (already replayed or discarded).
   */
  async resolve(
    tx: EntityManager,
    id: string,
    status: Exclude<DeadLetterStatus, 'open'>,
    replayOutcome?: ReceiveOutcome,
  ): Promise<boolean> {
    const result = await tx
      .createQueryBuilder()
      .update(DeadLetterEntity)
      .set({
        status,
        resolvedAt: this.clock(),
        replayOutcome: replayOutcome === undefined ? null : JSON.stringify(replayOutcome),
      })
      .where({ id, status: 'open' })
      .execute();
    return (result.affected ?? 0) > 0;
  }
}

/** The `rejected` dead letter already kept for a transport record with this id, if any. */
export async function rejectedLetterId(
  tx: EntityManager,
  messageId: string,
): Promise<string | undefined> {
  // The partial index psi_dead_letter_rejected answers this; SQLite uses a partial index only
  // for a literal reason, not a bound one.
  const kept = await tx
    .createQueryBuilder(DeadLetterEntity, 'd')
    .select(['d.id'])
    .where('d.messageId = :messageId', { messageId })
    .andWhere(`d.reason = 'rejected'`)
    .getOne();
  return kept?.id;
}

/** Retention: deletes a batch of the letters resolved before `cutoff`. */
export function deleteResolvedLettersBefore(
  tx: EntityManager,
  cutoff: number,
  batchSize: number,
): Promise<DeletedBatch> {
  return deleteBatchBefore(tx, DeadLetterEntity, 'resolvedAt', cutoff, batchSize);
}

/** Retention (when configured): deletes a batch of the open letters created before `cutoff`. */
export function deleteOpenLettersBefore(
  tx: EntityManager,
  cutoff: number,
  batchSize: number,
): Promise<DeletedBatch> {
  return deleteBatchBefore(tx, DeadLetterEntity, 'createdAt', cutoff, batchSize, 'open');
}

/** Every dead letter, of any status, in creation order: what tests and tools inspect. */
export async function listAllDeadLetters(tx: EntityManager): Promise<DeadLetter[]> {
  const rows = await tx.find(DeadLetterEntity, { order: { createdAt: 'ASC', id: 'ASC' } });
  return rows.map(toDeadLetter);
}

function toDeadLetter(row: DeadLetterEntity): DeadLetter {
  return {
    id: row.id,
    messageId: row.messageId,
    event: row.event,
    correlationKey: row.correlationKey ?? undefined,
    businessKey: row.businessKey ?? undefined,
    payload: row.payload === null ? undefined : (JSON.parse(row.payload) as unknown),
    source: row.source ?? undefined,
    reason: row.reason,
    detail: row.detail === null ? undefined : (JSON.parse(row.detail) as unknown),
    instanceId: row.instanceId ?? undefined,
    expectationId: row.expectationId ?? undefined,
    status: row.status,
    receivedAt: row.receivedAt,
    createdAt: row.createdAt,
    ...(row.traceParent ? { traceParent: row.traceParent } : {}),
    ...(row.traceState ? { traceState: row.traceState } : {}),
    resolvedAt: row.resolvedAt ?? undefined,
    replayOutcome:
      row.replayOutcome === null ? undefined : (JSON.parse(row.replayOutcome) as ReceiveOutcome),
  };
}
