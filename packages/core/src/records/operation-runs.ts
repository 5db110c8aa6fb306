import type { EntityManager } from 'typeorm';
import {
  OperationItemEntity,
  type OperationItemStatus,
} from '../store/entities/operation-item.entity';
import { OperationEntity, type OperationStatus } from '../store/entities/operation.entity';
import { findRow, findRows, insertRow, updateRows } from '../store/row-statements';

/**
 * The operation run record (psi_operation, with its items in psi_operation_item): a bulk
 * operator action submitted once and walked by whichever node's runner holds its lease. Every
 * read and write of runs and items is here; the operations API and its runner call these steps.
 */
export type OperationRow = OperationEntity;
export type OperationItemRow = OperationItemEntity;

/** What settles an item (the operations API's `ItemOutcome`), stored as it is. */
export interface SettledOutcome {
  status: Exclude<OperationItemStatus, 'started'>;
  instanceId?: string;
}

export async function insertOperation(tx: EntityManager, row: OperationRow): Promise<void> {
  await insertRow(tx, OperationEntity, row);
}

export function findOperation(tx: EntityManager, id: string): Promise<OperationRow | null> {
  return findRow(tx, OperationEntity, { id });
}

/** Operations, newest first; `before` is the id of the last one of the previous page. */
export async function findOperations(
  tx: EntityManager,
  filter: { status?: OperationStatus[]; limit: number; before?: string },
): Promise<OperationRow[]> {
  const query = tx.createQueryBuilder(OperationEntity, 'o');
  if (filter.status?.length) query.andWhere('o.status IN (:...status)', { status: filter.status });
  if (filter.before) query.andWhere('o.id < :before', { before: filter.before });
  return query.orderBy('o.id', 'DESC').limit(filter.limit).getMany();
}

/**
 * Ids of runs this node may take: pending ones, and running ones whose lease lapsed (their node
 * died) or is this node's own (a restart), of the actions it can run, oldest first.
 */
export async function runnableOperations(
  tx: EntityManager,
  node: { nodeId: string; actions: readonly string[]; now: number; only?: string },
  limit: number,
): Promise<string[]> {
  const query = tx
    .createQueryBuilder(OperationEntity, 'o')
    .select('o.id', 'id')
    .where('o.action IN (:...actions)', { actions: node.actions })
    .andWhere(
      "(o.status = 'pending' OR (o.status = 'running' AND (o.leaseExpiresAt < :now OR o.leaseOwner = :me)))",
      { now: node.now, me: node.nodeId },
    );
  if (node.only) query.andWhere('o.id = :only', { only: node.only });
  const rows = await query.orderBy('o.id', 'ASC').limit(limit).getRawMany<{ id: string }>();
  return rows.map((row) => row.id);
}

/** Takes a run for this node with a conditional update; false when another node has it. */
export async function claimOperation(
  tx: EntityManager,
  id: string,
  node: { nodeId: string; now: number; leaseUntil: number },
): Promise<boolean> {
  const result = await tx
    .createQueryBuilder()
    .update(OperationEntity)
    .set({
      status: 'running',
      leaseOwner: node.nodeId,
      leaseExpiresAt: node.leaseUntil,
      updatedAt: node.now,
    })
    .where('id = :id', { id })
    .andWhere(
      '(status = \'pending\' OR (status = \'running\' AND ("leaseExpiresAt" < :now OR "leaseOwner" = :me)))',
      { now: node.now, me: node.nodeId },
    )
    .execute();
  return (result.affected ?? 0) > 0;
}

/** Extends this node's lease on a running run; false when it lost the run (or it ended). */
export async function renewOperation(
  tx: EntityManager,
  id: string,
  node: { nodeId: string; now: number; leaseUntil: number },
): Promise<boolean> {
  const renewed = await updateRows(
    tx,
    OperationEntity,
    { id, status: 'running', leaseOwner: node.nodeId },
    { leaseExpiresAt: node.leaseUntil, updatedAt: node.now },
  );
  return renewed > 0;
}

/**
 * Records that this node starts `target` (cursor moved past it, item `started`), while it holds
 * the run. Returns the item's state: `new` (act now), `started` (a dead node started it: act
 * again, idempotently), a settled status (leave it), or `lost` (the run is no longer ours).
 */
export async function startItem(
  tx: EntityManager,
  id: string,
  target: string,
  node: { nodeId: string; now: number; advanceCursor: boolean },
): Promise<'new' | 'lost' | OperationItemStatus> {
  const run = await findRow(tx, OperationEntity, {
    id,
    status: 'running',
    leaseOwner: node.nodeId,
  });
  if (!run) return 'lost';
  const existing = await findRow(tx, OperationItemEntity, { operationId: id, target });
  if (existing) return existing.status;
  await insertRow(tx, OperationItemEntity, {
    operationId: id,
    target,
    position: run.succeeded + run.failed + run.skipped + 1,
    status: 'started',
    outcome: null,
    instanceId: null,
    startedAt: node.now,
    finishedAt: null,
  });
  if (node.advanceCursor) {
    await updateRows(tx, OperationEntity, { id }, { cursor: target, updatedAt: node.now });
  }
  return 'new';
}

/** Settles a started item with its outcome and counts it; false if it was already settled. */
export async function settleItem(
  tx: EntityManager,
  id: string,
  target: string,
  outcome: SettledOutcome,
  now: number,
): Promise<boolean> {
  const settled = await updateRows(
    tx,
    OperationItemEntity,
    { operationId: id, target, status: 'started' },
    {
      status: outcome.status,
      outcome: JSON.stringify(outcome),
      instanceId: outcome.instanceId ?? null,
      finishedAt: now,
    },
  );
  if (settled === 0) return false;
  const column = outcome.status;
  await tx
    .createQueryBuilder()
    .update(OperationEntity)
    .set({ [column]: () => `"${column}" + 1`, updatedAt: now })
    .where('id = :id', { id })
    .execute();
  return true;
}

/** Targets a dead node started and never settled. */
export async function unsettledItems(tx: EntityManager, id: string): Promise<string[]> {
  const rows = await findRows(
    tx,
    OperationItemEntity,
    { operationId: id, status: 'started' },
    { order: { position: 'ASC' } },
  );
  return rows.map((row) => row.target);
}

/** Ends a run this node holds (or any run, for a cancel). */
export async function finishOperation(
  tx: EntityManager,
  id: string,
  change: { status: OperationStatus; now: number; error?: unknown; nodeId?: string },
): Promise<boolean> {
  const where = change.nodeId
    ? { id, status: 'running' as const, leaseOwner: change.nodeId }
    : { id, status: ['pending', 'running'] as OperationStatus[] };
  const done = await updateRows(tx, OperationEntity, where, {
    status: change.status,
    finishedAt: change.now,
    updatedAt: change.now,
    leaseOwner: null,
    leaseExpiresAt: null,
    error: change.error === undefined ? null : JSON.stringify(change.error),
  });
  return done > 0;
}

/** Items of a run in the order they were started. */
export async function findItems(
  tx: EntityManager,
  id: string,
  page: { limit: number; afterPosition?: number; status?: OperationItemStatus },
): Promise<OperationItemRow[]> {
  const query = tx
    .createQueryBuilder(OperationItemEntity, 't')
    .where('t.operationId = :id', { id });
  if (page.afterPosition !== undefined)
    query.andWhere('t.position > :after', { after: page.afterPosition });
  if (page.status) query.andWhere('t.status = :status', { status: page.status });
  return query.orderBy('t.position', 'ASC').limit(page.limit).getMany();
}
