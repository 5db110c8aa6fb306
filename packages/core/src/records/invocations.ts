import type { EntityManager } from 'typeorm';
import { InvocationEntity, type InvocationStatus } from '../store/entities/invocation.entity';
import { findRow, insertRowIfAbsent, updateRows, updateRowsWhen } from '../store/row-statements';

/**
 * The invocation record: one run of an adapter for one entry of an instance into a service
 * step, from `running` (under a node's lease) to `waiting` for its answers, `completed`,
 * `failed` or `frozen`. The invoke flow moves it through the steps below; the lease sweep of
 * several nodes (`cluster/node-leases.ts`) still reads and renews leases itself.
 */
export type Invocation = InvocationEntity;
export type { InvocationStatus };

/** The entry into a service step an invocation is for: unique per instance. */
export type StepEntry = Pick<Invocation, 'instanceId' | 'activationId'>;

/** The lease columns of a running invocation. */
export type InvocationLease = Pick<Invocation, 'leaseOwner' | 'leaseExpiresAt'>;

export function invocationById(tx: EntityManager, id: string): Promise<Invocation | null> {
  return findRow(tx, InvocationEntity, { id });
}

export function invocationOfEntry(tx: EntityManager, entry: StepEntry): Promise<Invocation | null> {
  return findRow(tx, InvocationEntity, entry);
}

/** The invocations matching `filter`, in creation order. */
export function listInvocations(
  tx: EntityManager,
  filter: { instanceId?: string; status?: InvocationStatus },
): Promise<Invocation[]> {
  // Ids increase with creation in a process: they order invocations created in one ms.
  return tx.find(InvocationEntity, { where: filter, order: { createdAt: 'ASC', id: 'ASC' } });
}

/**
 * Creates the invocation of a step entry; false when the entry has one already (a restart, or
 * another node first): the unique entry decides, in one statement in the common case.
 */
export function createInvocation(tx: EntityManager, invocation: Invocation): Promise<boolean> {
  return insertRowIfAbsent(tx, InvocationEntity, invocation, ['instanceId', 'activationId']);
}

/** `callService` returned: the invocation waits for its answers, or is completed. */
export async function markCalled(
  tx: EntityManager,
  id: string,
  next: 'waiting' | 'completed',
  now: number,
): Promise<void> {
  await updateRows(tx, InvocationEntity, { id }, { status: next, updatedAt: now });
}

/**
 * Completes a waiting invocation once none of its expectations is open or claimed, in one
 * statement (the expectations read by `psi_expectation_invocation`, in the same snapshot).
 */
export async function completeWaitingIfSettled(
  tx: EntityManager,
  id: string,
  now: number,
): Promise<void> {
  await updateRowsWhen(
    tx,
    InvocationEntity,
    'settled',
    { id, status: 'waiting' },
    { status: 'completed', updatedAt: now },
    (sql) =>
      `NOT EXISTS (SELECT 1 FROM "psi_expectation" "e" WHERE "e"."invocationId" = ` +
      `${sql.param('id', 1)} AND "e"."status" IN ('open', 'claimed'))`,
  );
}

/** The service's business error ended the invocation (its transition or a fault follows). */
export async function completeWithBusinessError(
  tx: EntityManager,
  id: string,
  lastError: string,
  now: number,
): Promise<void> {
  await updateRows(
    tx,
    InvocationEntity,
    { id },
    { status: 'completed', lastError, updatedAt: now },
  );
}

/** The adapter's inputs were invalid: the invocation failed for good. */
export async function failInvocation(
  tx: EntityManager,
  id: string,
  lastError: string,
  now: number,
): Promise<void> {
  await updateRows(tx, InvocationEntity, { id }, { status: 'failed', lastError, updatedAt: now });
}

/** Retries ran out (or the transport is unknown): frozen until an operator thaws it. */
/**
 * Freezes a running invocation that `nodeId` leases (or that no node leases); false when another
 * node holds it: this node's lease lapsed while it ran (a starved process) and that node took
 * the invocation over and runs it now. The loser then stands down instead of freezing the
 * winner's run (its failure is usually the winner's request already in the outbox).
 */
export async function freezeInvocation(
  tx: EntityManager,
  id: string,
  lastError: string,
  now: number,
  nodeId: string,
): Promise<boolean> {
  const frozen = await tx
    .createQueryBuilder()
    .update(InvocationEntity)
    .set({ status: 'frozen', lastError, updatedAt: now })
    .where(`id = :id AND status = 'running'`, { id })
    .andWhere('("leaseOwner" = :nodeId OR "leaseOwner" IS NULL)', { nodeId })
    .execute();
  return (frozen.affected ?? 0) > 0;
}

/** A frozen invocation runs again under `lease`; false when it was not frozen. */
export async function thawInvocation(
  tx: EntityManager,
  id: string,
  lease: InvocationLease,
  now: number,
): Promise<boolean> {
  const thawed = await tx
    .createQueryBuilder()
    .update(InvocationEntity)
    .set({ status: 'running', updatedAt: now, ...lease })
    .where({ id, status: 'frozen' })
    .execute();
  return (thawed.affected ?? 0) > 0;
}

/**
 * Whether the instance invoked the same step again after `own` (it left the visit `own` was
 * for). Ids increase with creation in a process: they order invocations of one millisecond.
 */
export async function invokedAgainSince(tx: EntityManager, own: Invocation): Promise<boolean> {
  const later = await tx
    .createQueryBuilder(InvocationEntity, 'i')
    .where('i.instanceId = :instanceId AND i.step = :step AND i.id <> :id', {
      instanceId: own.instanceId,
      step: own.step,
      id: own.id,
    })
    .andWhere('(i.createdAt > :at OR (i.createdAt = :at AND i.id > :id))', { at: own.createdAt })
    .getCount();
  return later > 0;
}
