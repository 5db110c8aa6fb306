// Over 400 lines: the one owner of the expectation's status changes (issue 17), so every flow's
// step on it and every read the flows need of it (answers, deadlines, claims) is here; split by
// flow, a status change would again be written in several files.
import { Brackets, In, type EntityManager, type SelectQueryBuilder } from 'typeorm';
import { ExpectationEntity, type ExpectationStatus } from '../store/entities/expectation.entity';
import {
  countRows,
  findRow,
  findRows,
  findRowsEither,
  insertRow,
  selectRows,
  updateRows,
} from '../store/row-statements';

/**
 * The expectation record: instance I, at wait state W, expects event E, matched by correlation
 * key or business key, until deadline D. This file is the one owner of its status changes; the
 * flows call the steps below by their names and never write `psi_expectation` themselves.
 *
 * Every step that decides a race is one conditional UPDATE (`… WHERE id = ? AND status = ?`),
 * so the same code holds across processes; each resolves with whether it won.
 */
export type Expectation = ExpectationEntity;
export type { ExpectationStatus };

/** The columns of a claim: the node delivering it, until when (renewed), and the answer. */
export type ClaimColumns = Pick<Expectation, 'claimedBy' | 'claimExpiresAt' | 'claimedMessage'>;

/** Columns that clear a claim (the delivery finished or was given back). */
export const UNCLAIMED: ClaimColumns = {
  claimedBy: null,
  claimExpiresAt: null,
  claimedMessage: null,
};

/** A claim as long as one node holds it for one delivery: what every step after a claim checks. */
export interface HeldClaimKey {
  id: string;
  claimedBy: string;
  deliveryId: string;
}

// Reads.

export function expectationById(tx: EntityManager, id: string): Promise<Expectation | null> {
  return findRow(tx, ExpectationEntity, { id });
}

export function expectationsByIds(tx: EntityManager, ids: string[]): Promise<Expectation[]> {
  return ids.length > 0 ? findRows(tx, ExpectationEntity, { id: ids }) : Promise.resolve([]);
}

/** Every expectation (of one instance), in creation order: what tests and tools inspect. */
export function listExpectations(
  tx: EntityManager,
  filter: { instanceId?: string } = {},
): Promise<Expectation[]> {
  // Ids increase with creation in a process: they order expectations created in one ms.
  return tx.find(ExpectationEntity, { where: filter, order: { createdAt: 'ASC', id: 'ASC' } });
}

/** What an answer with this correlation key may be for (any status). */
export function expectationsByCorrelationKey(
  tx: EntityManager,
  event: string,
  correlationKey: string,
): Promise<Expectation[]> {
  return findRows(tx, ExpectationEntity, { correlationKey, event });
}

/** What an answer with these business keys may be for (any status). */
export function expectationsByBusinessKeys(
  tx: EntityManager,
  event: string,
  businessKeys: string[],
): Promise<Expectation[]> {
  return findRows(tx, ExpectationEntity, { businessKey: businessKeys, event });
}

/** An instance's expectations at these wait states (any status). */
export function expectationsAtWaitStates(
  tx: EntityManager,
  instanceId: string,
  waitStates: string[],
): Promise<Expectation[]> {
  return findRows(tx, ExpectationEntity, { instanceId, waitState: waitStates });
}

/** The invocation an expectation belongs to (a dead letter's audit entry names it). */
export async function invocationIdOfExpectation(
  tx: EntityManager,
  id: string,
): Promise<string | undefined> {
  const row = await tx.findOne(ExpectationEntity, {
    where: { id },
    select: { invocationId: true },
  });
  return row?.invocationId;
}

/** Timeouts of the instance that won their claim and wait to be signalled (or settled). */
export function pendingTimeouts(tx: EntityManager, instanceId: string): Promise<Expectation[]> {
  return findRows(tx, ExpectationEntity, { instanceId, status: 'timed-out', timeoutPending: true });
}

/**
 * A release's read, in one statement: the instance's {@link pendingTimeouts} and the
 * expectations `ids` (those its parked answers belong to), by id.
 */
export async function pendingTimeoutsAndExpectations(
  tx: EntityManager,
  instanceId: string,
  ids: string[],
): Promise<{ pendingTimeouts: Expectation[]; expectations: Map<string, Expectation> }> {
  const pending = { instanceId, status: 'timed-out', timeoutPending: true } as const;
  const rows =
    ids.length > 0
      ? await findRowsEither(tx, ExpectationEntity, pending, { id: ids })
      : await findRows(tx, ExpectationEntity, pending);
  const wanted = new Set(ids);
  return {
    pendingTimeouts: rows.filter(
      (e) => e.instanceId === instanceId && e.status === 'timed-out' && e.timeoutPending,
    ),
    expectations: new Map(rows.filter((e) => wanted.has(e.id)).map((e) => [e.id, e] as const)),
  };
}

/** Whether the invocation recorded its expectations already (a re-run must not record twice). */
export async function invocationHasExpectations(
  tx: EntityManager,
  invocationId: string,
): Promise<boolean> {
  return (await countRows(tx, ExpectationEntity, { invocationId })) > 0;
}

/**
 * The open expectations whose deadline passed by `now` and that no parked answer waits for (an
 * answer parked before the deadline wins over it): what the deadline scheduler times out.
 */
export function dueDeadlines(tx: EntityManager, now: number): Promise<Expectation[]> {
  return dueExpectations(tx, now).getMany();
}

/** The earliest deadline {@link dueDeadlines} will return; null when there is none. */
export async function nextDeadline(tx: EntityManager): Promise<number | null> {
  // The first entry of the deadline index that has no parked answer: not MIN(), which
  // neither database answers from the index when the NOT EXISTS is there.
  const row = await dueExpectations(tx, Number.MAX_SAFE_INTEGER)
    .select('e.deadline', 'at')
    .orderBy('e.deadline', 'ASC')
    .limit(1)
    .getRawOne<{ at: string | number | null }>();
  return row?.at === null || row?.at === undefined ? null : Number(row.at);
}

function dueExpectations(tx: EntityManager, now: number): SelectQueryBuilder<Expectation> {
  // Literal predicates: they match the partial deadline index's, which a bound parameter does
  // not (SQLite and PostgreSQL's generic plans then read every row with a deadline).
  return tx
    .createQueryBuilder(ExpectationEntity, 'e')
    .where(`e.status = 'open' AND e.deadline IS NOT NULL AND e.deadline <= :now`, { now })
    .andWhere('NOT EXISTS (SELECT 1 FROM psi_parked_message p WHERE p."expectationId" = e.id)');
}

// Steps of the flows.

/** Records a new expectation (open). */
export function addExpectation(tx: EntityManager, expectation: Expectation): Promise<void> {
  return insertRow(tx, ExpectationEntity, expectation);
}

/**
 * An answer claims the open expectation (carrying the answer and the delivery's id, so a node
 * that dies before finishing leaves all recovery needs) and closes its one-of-many group: the
 * answer has won its group and its race against the deadline. False when it was not open.
 */
export async function claimAndCloseGroup(
  tx: EntityManager,
  expectation: Expectation,
  claim: ClaimColumns & { deliveryId: string },
  now: number,
): Promise<boolean> {
  const won = await changeIfStatus(tx, expectation.id, 'open', { status: 'claimed', ...claim });
  if (won) await closeGroup(tx, expectation, now);
  return won;
}

/**
 * The deadline claims the open expectation as a pending timeout (signalled when the instance is
 * at the wait state) and closes its group. False when an answer or a sibling got there first.
 */
export async function timeOutAndCloseGroup(
  tx: EntityManager,
  expectation: Expectation,
  now: number,
): Promise<boolean> {
  const won = await changeIfStatus(tx, expectation.id, 'open', {
    status: 'timed-out',
    timeoutPending: true,
    closedAt: now,
  });
  if (won) await closeGroup(tx, expectation, now);
  return won;
}

/** A pending timeout is signalled or settled; false when another node did it first. */
export async function settleTimeout(tx: EntityManager, id: string): Promise<boolean> {
  return (
    (await updateRows(
      tx,
      ExpectationEntity,
      { id, timeoutPending: true },
      { timeoutPending: false },
    )) > 0
  );
}

/**
 * The held claim's answer was delivered: closed (an entry that `repeats` opens again for its
 * next answer). False when this node no longer holds the claim.
 */
export async function markDelivered(
  tx: EntityManager,
  held: HeldClaimKey,
  repeats: boolean,
  now: number,
): Promise<boolean> {
  const changes: Partial<Expectation> = repeats
    ? { status: 'open', ...UNCLAIMED }
    : { status: 'delivered', closedAt: now, ...UNCLAIMED };
  return (await updateRows(tx, ExpectationEntity, heldRow(held), changes)) > 0;
}

/**
 * The handler failed: the expectation is open again, and so is the group its claim closed
 * (nothing else could close it since). False when this node no longer holds the claim.
 */
export async function giveBackClaim(
  tx: EntityManager,
  held: HeldClaimKey,
  group: Pick<Expectation, 'invocationId' | 'groupId'>,
): Promise<boolean> {
  const reopened = await updateRows(tx, ExpectationEntity, heldRow(held), {
    status: 'open',
    deliveryId: null,
    ...UNCLAIMED,
  });
  if (reopened === 0) return false;
  if (group.groupId) {
    await updateRows(
      tx,
      ExpectationEntity,
      { invocationId: group.invocationId, groupId: group.groupId, status: 'superseded' },
      { status: 'open', closedAt: null },
    );
  }
  return true;
}

/** The claim of an answer nobody knows any more (from before claims carried it): open again. */
export async function reopenUnknownClaim(tx: EntityManager, held: HeldClaimKey): Promise<void> {
  await updateRows(tx, ExpectationEntity, heldRow(held), {
    status: 'open',
    deliveryId: null,
    ...UNCLAIMED,
  });
}

/**
 * The instance left the wait state without the held claim's answer: cancelled, its group left
 * closed (the answer won it). False when this node no longer holds the claim.
 */
export async function cancelClaim(
  tx: EntityManager,
  held: HeldClaimKey,
  now: number,
): Promise<boolean> {
  const cancelled = await updateRows(tx, ExpectationEntity, heldRow(held), {
    status: 'cancelled',
    closedAt: now,
    ...UNCLAIMED,
  });
  return cancelled > 0;
}

/** The instance ended: what it still waited for is cancelled. */
export function cancelOpenOfInstance(
  tx: EntityManager,
  instanceId: string,
  now: number,
): Promise<number> {
  return cancelOpen(tx, { instanceId }, now);
}

/** The invocation ended with a business error: what it still waited for is cancelled. */
export function cancelOpenOfInvocation(
  tx: EntityManager,
  invocationId: string,
  now: number,
): Promise<number> {
  return cancelOpen(tx, { invocationId }, now);
}

/** The instance left a wait-state entry: what the entry still waited for is cancelled. */
export function cancelOpenOfVisit(
  tx: EntityManager,
  instanceId: string,
  activationId: string,
  now: number,
): Promise<number> {
  return cancelOpen(tx, { instanceId, activationId }, now);
}

/** Supersedes the open siblings of a group's winner (the winner is no longer open). */
async function closeGroup(tx: EntityManager, winner: Expectation, now: number): Promise<void> {
  if (!winner.groupId) return;
  await updateRows(
    tx,
    ExpectationEntity,
    { invocationId: winner.invocationId, groupId: winner.groupId, status: 'open' },
    { status: 'superseded', closedAt: now },
  );
}

function cancelOpen(tx: EntityManager, where: Partial<Expectation>, now: number): Promise<number> {
  return updateRows(
    tx,
    ExpectationEntity,
    { ...where, status: 'open' },
    { status: 'cancelled', closedAt: now },
  );
}

/** Conditional status change: the one primitive every race in PSI is decided by. */
async function changeIfStatus(
  tx: EntityManager,
  id: string,
  fromStatus: ExpectationStatus,
  changes: Partial<Expectation>,
): Promise<boolean> {
  return (await updateRows(tx, ExpectationEntity, { id, status: fromStatus }, changes)) > 0;
}

function heldRow(held: HeldClaimKey): Partial<Expectation> {
  return {
    id: held.id,
    status: 'claimed',
    claimedBy: held.claimedBy,
    deliveryId: held.deliveryId,
  };
}

// Claims of the nodes sharing the store (cluster/ decides when) and what recovery reads.

/** A node renews its claims on the deliveries it works on. */
export async function renewClaims(
  tx: EntityManager,
  ids: string[],
  nodeId: string,
  expiresAt: number,
): Promise<void> {
  if (ids.length === 0) return;
  await tx.update(
    ExpectationEntity,
    { id: In(ids), claimedBy: nodeId, status: 'claimed' },
    { claimExpiresAt: expiresAt },
  );
}

/** The nodes holding claims (null: a claim without owner). */
export async function claimOwners(tx: EntityManager): Promise<Array<string | null>> {
  // The literal 'claimed' lets PostgreSQL use the partial index.
  const rows = await selectRows(
    tx,
    ExpectationEntity,
    'claim-owners',
    (sql) => `SELECT DISTINCT "claimedBy" AS "owner" FROM ${sql.table} WHERE "status" = 'claimed'`,
  );
  return rows.map((r) => r.owner as string | null);
}

/**
 * One page (`limit`, in id order after `afterId`) of claims whose delivery a node may settle:
 * those whose claim lapsed (or has no owner or expiry) and those of `owners` (found dead, or the
 * node's own earlier process).
 */
export function lapsedClaims(
  tx: EntityManager,
  owners: readonly string[],
  now: number,
  afterId: string,
  limit: number,
): Promise<Expectation[]> {
  const query = tx
    .createQueryBuilder(ExpectationEntity, 'e')
    .where(`e.status = 'claimed'`)
    .andWhere('e.id > :afterId', { afterId });
  query.andWhere(
    new Brackets((where) => {
      where
        .where('e.claimExpiresAt IS NULL')
        .orWhere('e.claimExpiresAt <= :now', { now })
        .orWhere('e.claimedBy IS NULL');
      if (owners.length > 0) where.orWhere('e.claimedBy IN (:...owners)', { owners });
    }),
  );
  return query.orderBy('e.id', 'ASC').limit(limit).getMany();
}

/**
 * A node takes a lapsed claim over to settle its delivery, conditional on the claim as it was
 * read (same owner, expiry and delivery id: its owner did not renew it meanwhile); false when
 * another node moved first.
 */
export async function takeOverClaim(
  tx: EntityManager,
  claim: Pick<Expectation, 'id' | 'claimedBy' | 'claimExpiresAt' | 'deliveryId'>,
  by: { claimedBy: string; claimExpiresAt: number; deliveryId: string },
): Promise<boolean> {
  const query = tx
    .createQueryBuilder()
    .update(ExpectationEntity)
    .set(by)
    .where(`id = :id AND status = 'claimed'`, { id: claim.id });
  sameAs(query, '"claimedBy"', 'owner', claim.claimedBy);
  sameAs(query, '"claimExpiresAt"', 'expiry', claim.claimExpiresAt);
  sameAs(query, '"deliveryId"', 'delivery', claim.deliveryId);
  return ((await query.execute()).affected ?? 0) > 0;
}

/** The instances with pending timeouts (what recovery settles at start). */
export async function instancesWithPendingTimeouts(tx: EntityManager): Promise<string[]> {
  // A bare boolean: the partial index on pending timeouts holds exactly these rows.
  const rows = await tx
    .createQueryBuilder(ExpectationEntity, 'e')
    .select('DISTINCT e.instanceId', 'instanceId')
    .where('e.timeoutPending')
    .getRawMany<{ instanceId: string }>();
  return rows.map((r) => r.instanceId);
}

/** Adds `column IS NOT DISTINCT FROM value` (spelled for both databases) to an update. */
function sameAs(
  query: { andWhere(sql: string, parameters?: Record<string, unknown>): unknown },
  column: string,
  name: string,
  value: string | number | null,
): void {
  if (value === null) query.andWhere(`${column} IS NULL`);
  else query.andWhere(`${column} = :${name}`, { [name]: value });
}
