import { In, type EntityManager } from 'typeorm';
import { AuditEntryEntity, type AuditKind } from '../store/entities/audit-entry.entity';
import type { DeletedBatch } from '../store/batch-delete';
import { deferInsert, flushDeferredInserts } from '../store/deferred-inserts';
import type { EngineStateCarry, PsiStore } from '../store/psi-store';

/** An audit entry as handed to `onTrace` and returned by queries. */
export interface TraceEvent {
  kind: AuditKind;
  instanceId?: string;
  invocationId?: string;
  detail?: Record<string, unknown>;
  /**
   * The conversation's correlation key, where the step has one (for logs and traces); handed
   * to `onTrace`, not kept in the audit table.
   */
  correlationKey?: string;
  /** The answer's message id, where the step handles one; like `correlationKey`, not kept. */
  messageId?: string;
  at: number;
}

/** Records an audit entry inside the current transaction. */
export interface Audit {
  (event: Omit<TraceEvent, 'at'>): Promise<void>;
  /**
   * Runs `effect` once the unit of work committed: counters, wake-ups, anything besides the
   * database. Group commit may run a unit twice (a batch re-run after another unit failed); an
   * effect registered by a run that did not commit never happens.
   */
  afterCommit(effect: () => void): void;
}

/**
 * The last outcome (`completed` or `failed` entry) recorded for an invocation: written in the
 * transaction that recorded its status, so it is what the step was signalled with.
 */
export async function recordedOutcome(
  tx: EntityManager,
  invocation: { id: string; instanceId: string },
): Promise<Pick<TraceEvent, 'kind' | 'detail'> | null> {
  const entry = await tx.findOne(AuditEntryEntity, {
    where: {
      instanceId: invocation.instanceId,
      invocationId: invocation.id,
      kind: In(['completed', 'failed']),
    },
    order: { seq: 'DESC' },
  });
  if (!entry) return null;
  const detail = entry.detail ? (JSON.parse(entry.detail) as Record<string, unknown>) : undefined;
  return { kind: entry.kind, detail };
}

/**
 * The audit entries (of one instance, of one kind), oldest first, with those of units committing
 * together with this read.
 */
export async function auditEntries(
  tx: EntityManager,
  filter: { instanceId?: string; kind?: AuditKind } = {},
): Promise<TraceEvent[]> {
  await flushDeferredInserts(tx);
  const rows = await tx.find(AuditEntryEntity, { where: filter, order: { seq: 'ASC' } });
  return rows.map((row) => ({
    kind: row.kind,
    instanceId: row.instanceId ?? undefined,
    invocationId: row.invocationId ?? undefined,
    detail: row.detail ? (JSON.parse(row.detail) as Record<string, unknown>) : undefined,
    at: row.at,
  }));
}

/**
 * Retention: deletes the oldest `batchSize` entries (read in `seq` order, their primary key,
 * which follows time) that are before `cutoff`; `full` when the whole batch was old, so the
 * sweep stops at the first entry inside the retention and never scans the table.
 */
export async function deleteAuditBatchBefore(
  tx: EntityManager,
  cutoff: number,
  batchSize: number,
): Promise<DeletedBatch> {
  const oldest = await tx.find(AuditEntryEntity, {
    select: { seq: true, at: true },
    order: { seq: 'ASC' },
    take: batchSize,
  });
  const expired = oldest.filter((entry) => entry.at < cutoff);
  if (expired.length > 0) {
    await tx.delete(
      AuditEntryEntity,
      expired.map((entry) => entry.seq),
    );
  }
  return {
    affected: expired.length,
    full: expired.length === oldest.length && oldest.length === batchSize,
  };
}

/**
 * Runs units of work that write audit entries; entries commit with the work, and are reported to
 * `onTrace` only after the commit (a rolled-back step never shows up in a trace), as are the
 * effects the unit registered with `afterCommit`.
 */
export class AuditLog {
  constructor(
    private readonly store: PsiStore,
    private readonly clock: () => number,
    private readonly onTrace: ((event: TraceEvent) => void) | undefined,
  ) {}

  async transaction<T>(
    work: (tx: EntityManager, audit: Audit) => Promise<T>,
    carry?: EngineStateCarry,
  ): Promise<T> {
    const written: TraceEvent[] = [];
    const effects: Array<() => void> = [];
    const result = await this.store.transaction(
      (tx) => work(tx, this.auditIn(tx, written, effects)),
      carry,
    );
    this.reportCommitted(written, effects);
    return result;
  }

  /**
   * Runs `work` in the transaction that commits the engine states carried in the caller's
   * scope (PsiStore.rideWithCarriedStates); undefined outside an open scope.
   */
  rideWithCarriedStates<T>(
    work: (tx: EntityManager, audit: Audit) => Promise<T>,
  ): Promise<T> | undefined {
    const written: TraceEvent[] = [];
    const effects: Array<() => void> = [];
    const riding = this.store.rideWithCarriedStates((tx) =>
      work(tx, this.auditIn(tx, written, effects)),
    );
    return riding?.then((result) => {
      this.reportCommitted(written, effects);
      return result;
    });
  }

  /** The unit's audit writer; a run again (a batch's re-run) starts `written` over. */
  private auditIn(tx: EntityManager, written: TraceEvent[], effects: Array<() => void>): Audit {
    written.length = 0;
    effects.length = 0;
    const audit = async (event: Omit<TraceEvent, 'at'>): Promise<void> => {
      const at = this.clock();
      // Written with the other audit rows of the commit, a few multi-row INSERTs in all.
      deferInsert(tx, AuditEntryEntity, {
        instanceId: event.instanceId ?? null,
        invocationId: event.invocationId ?? null,
        kind: event.kind,
        detail: event.detail ? JSON.stringify(event.detail) : null,
        at,
      });
      written.push({ ...event, at });
    };
    return Object.assign(audit, { afterCommit: (effect: () => void) => effects.push(effect) });
  }

  private reportCommitted(
    written: readonly TraceEvent[],
    effects: ReadonlyArray<() => void>,
  ): void {
    for (const event of written) this.onTrace?.(event);
    for (const effect of effects) effect();
  }

  /**
   * Runs `work` with the engine states it saves committed by its next unit of work rather than
   * on their own (PsiStore.carryingEngineStates): for a signal and the record that follows it.
   */
  carryingEngineStates<T>(work: (carry: EngineStateCarry) => Promise<T>): Promise<T> {
    return this.store.carryingEngineStates(work);
  }

  /** See PsiStore.carriedStatesCommitted. */
  carriedStatesCommitted(): Promise<boolean> {
    return this.store.carriedStatesCommitted();
  }

  /** Every entry of an instance, oldest first. */
  forInstance(instanceId: string): Promise<TraceEvent[]> {
    return this.store.transaction((tx) => auditEntries(tx, { instanceId }));
  }
}
