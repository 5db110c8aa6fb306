import { Brackets, In, type EntityManager } from 'typeorm';
import { InvocationEntity, type InvocationStatus } from '../store/entities/invocation.entity';
import {
  findRow,
  insertRowIfAbsent,
  selectRows,
  updateRows,
  updateRowsReturning,
  updateRowsWhen,
  type SqlWriter,
} from '../store/row-statements';

/**
 * The invocation record: one run of an adapter for one entry of an instance into a service
 * step, from `running` (under a node's lease) to `waiting` for its answers, `completed`,
 * `failed` or `frozen`. The invoke flow moves it through the steps below; the nodes sharing the
 * store take, renew and let go of its lease through the lease steps at the end
 * (`cluster/node-leases.ts` decides when).
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

/**
 * `callService` returned: the invocation waits for its answers when any of its expectations is
 * open, else it is completed. One statement decides and writes (both reads of the expectations,
 * by `psi_expectation_invocation`); resolves with the status written and how many expectations
 * are open (≥ 1 exactly when `waiting`); undefined when the invocation no longer runs under
 * `owner`'s lease (another node took it over: that node's run records the outcome).
 *
 * On PostgreSQL the open expectations are read with FOR SHARE: an answer or a timeout settling
 * one of them right now (its row updated, not committed) is waited for and its outcome read, and
 * one that comes later waits for this commit. A plain read would see the expectation still open
 * in this statement's snapshot while the settling unit's {@link completeWaitingIfSettled} sees
 * the invocation still `running`: both commit and the invocation stays `waiting` for good (write
 * skew; the soak's "open invocations on ended instances" on PostgreSQL). SQLite has one writer.
 */
export async function markCalled(
  tx: EntityManager,
  id: string,
  now: number,
  owner: string,
): Promise<{ status: 'waiting' | 'completed'; open: number } | undefined> {
  const openOf = (sql: SqlWriter): string =>
    sql.dialect === 'postgres'
      ? `(SELECT COUNT(1) FROM (SELECT 1 FROM "psi_expectation" "e" WHERE "e"."invocationId" = ` +
        `${sql.param('id', 1)} AND "e"."status" = 'open' FOR SHARE OF "e") AS "o")`
      : `(SELECT COUNT(1) FROM "psi_expectation" "e" WHERE "e"."invocationId" = ` +
        `${sql.param('id', 1)} AND "e"."status" = 'open')`;
  const [row] = await updateRowsReturning(
    tx,
    InvocationEntity,
    'called',
    { id, status: 'running', leaseOwner: owner },
    { updatedAt: now },
    {
      set: (sql) => `"status" = CASE WHEN ${openOf(sql)} > 0 THEN 'waiting' ELSE 'completed' END`,
      returning: (sql) => `"status", ${openOf(sql)} AS "open"`,
    },
  );
  if (!row) return undefined; // not running under `owner`'s lease any more: taken over
  const open = Number((row as { open?: unknown }).open ?? 0); // pg counts as text
  return { status: open > 0 ? 'waiting' : 'completed', open };
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

/**
 * The service's business error ended the invocation (its transition or a fault follows); false
 * when it no longer runs under `owner`'s lease.
 */
export async function completeWithBusinessError(
  tx: EntityManager,
  id: string,
  lastError: string,
  now: number,
  owner: string,
): Promise<boolean> {
  const completed = await updateRows(
    tx,
    InvocationEntity,
    { id, status: 'running', leaseOwner: owner },
    { status: 'completed', lastError, updatedAt: now },
  );
  return completed > 0;
}

/** The adapter's inputs were invalid: the invocation failed for good (false: taken over). */
export async function failInvocation(
  tx: EntityManager,
  id: string,
  lastError: string,
  now: number,
  owner: string,
): Promise<boolean> {
  const failed = await updateRows(
    tx,
    InvocationEntity,
    { id, status: 'running', leaseOwner: owner },
    { status: 'failed', lastError, updatedAt: now },
  );
  return failed > 0;
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

// Leases of the nodes sharing the store.

/** Who takes a lease now: the node, its clock's now, and the owners last found dead. */
export interface LeaseTaker {
  nodeId: string;
  now: number;
  deadOwners: readonly string[];
}

/**
 * A node takes the lease of a running invocation (until `expiresAt`) when it is free, lapsed,
 * already the node's, or its owner was found dead; false when another live node holds it.
 */
export async function takeInvocationLease(
  tx: EntityManager,
  id: string,
  taker: LeaseTaker,
  expiresAt: number,
): Promise<boolean> {
  const taken = await tx
    .createQueryBuilder()
    .update(InvocationEntity)
    .set({ leaseOwner: taker.nodeId, leaseExpiresAt: expiresAt })
    .where('id = :id AND status = :running', { id, running: 'running' })
    .andWhere(takeableLease(RAW_LEASE, taker))
    .execute();
  return (taken.affected ?? 0) > 0;
}

/** A node renews its lease on the running invocations it works on. */
export async function renewInvocationLeases(
  tx: EntityManager,
  ids: string[],
  nodeId: string,
  expiresAt: number,
): Promise<void> {
  if (ids.length === 0) return;
  await tx.update(
    InvocationEntity,
    { id: In(ids), leaseOwner: nodeId, status: 'running' },
    { leaseExpiresAt: expiresAt },
  );
}

/** The nodes holding leases on running invocations (null: a lease without owner). */
export async function invocationLeaseOwners(tx: EntityManager): Promise<Array<string | null>> {
  // The literal 'running' lets PostgreSQL use the status index.
  const rows = await selectRows(
    tx,
    InvocationEntity,
    'lease-owners',
    (sql) => `SELECT DISTINCT "leaseOwner" AS "owner" FROM ${sql.table} WHERE "status" = 'running'`,
  );
  return rows.map((r) => r.owner as string | null);
}

/**
 * One page (`limit` ids, in id order after `afterId`) of the running invocations `taker` may
 * take over: those of dead owners, lapsed, free, or its own.
 */
export async function takeableInvocations(
  tx: EntityManager,
  taker: LeaseTaker,
  afterId: string,
  limit: number,
): Promise<string[]> {
  const rows = await tx
    .createQueryBuilder(InvocationEntity, 'i')
    .select('i.id', 'id')
    .where(`i.status = 'running'`)
    .andWhere('i.id > :afterId', { afterId })
    .andWhere(takeableLease(ALIASED_LEASE, taker))
    .orderBy('i.id', 'ASC')
    .limit(limit)
    .getRawMany<{ id: string }>();
  return rows.map((r) => r.id);
}

/** A node stopping cleanly lets go of its leases: any node may take its invocations at once. */
export async function releaseInvocationLeases(tx: EntityManager, nodeId: string): Promise<void> {
  await tx.update(
    InvocationEntity,
    { leaseOwner: nodeId, status: 'running' },
    { leaseExpiresAt: 0 },
  );
}

/** Free, the taker's, lapsed, or its owner dead; `columns` as the query builder needs them spelled. */
function takeableLease(columns: { owner: string; expiry: string }, taker: LeaseTaker): Brackets {
  return new Brackets((where) => {
    where
      .where(`${columns.owner} IS NULL`)
      .orWhere(`${columns.owner} = :me`, { me: taker.nodeId })
      .orWhere(`${columns.expiry} IS NULL`)
      .orWhere(`${columns.expiry} <= :leaseNow`, { leaseNow: taker.now });
    if (taker.deadOwners.length > 0)
      where.orWhere(`${columns.owner} IN (:...deadOwners)`, { deadOwners: taker.deadOwners });
  });
}

// In an update builder columns are raw SQL; in a select builder TypeORM maps alias.property.
const RAW_LEASE = { owner: '"leaseOwner"', expiry: '"leaseExpiresAt"' };
const ALIASED_LEASE = { owner: 'i.leaseOwner', expiry: 'i.leaseExpiresAt' };
