import type { EntityManager } from 'typeorm';
import { ParkedMessageEntity } from '../store/entities/parked-message.entity';
import {
  countRows,
  countRowsUpTo,
  deleteRows,
  findRow,
  findRows,
  insertRowReturningId,
  updateRowsWhen,
} from '../store/row-statements';
import type { Expectation } from './expectations';

/**
 * The parked answer record: an answer that arrived before its instance was ready, or before any
 * expectation existed, held with a TTL. The flows park, adopt, take and list through these steps.
 *
 * Several nodes may release or expire the same parked answer: the one whose `takeParkedAnswer`
 * removes the row delivers (or dead-letters) it.
 */
export type ParkedAnswer = ParkedMessageEntity;

/** A parked answer before it is stored (its `seq`, the arrival order, is given by the store). */
export type NewParkedAnswer = Omit<ParkedAnswer, 'seq'>;

/** Parks an answer; resolves with its `seq` (the parked answer's id). */
export function parkAnswer(tx: EntityManager, answer: NewParkedAnswer): Promise<number> {
  return insertRowReturningId(tx, ParkedMessageEntity, answer);
}

/** The answers parked for an instance, in arrival order. */
export function parkedForInstance(tx: EntityManager, instanceId: string): Promise<ParkedAnswer[]> {
  return findRows(tx, ParkedMessageEntity, { instanceId }, { order: { seq: 'ASC' } });
}

/** Whether an answer is parked for the expectation (it then wins over the deadline). */
export async function hasParkedAnswerFor(
  tx: EntityManager,
  expectationId: string,
): Promise<boolean> {
  return (await countRows(tx, ParkedMessageEntity, { expectationId })) > 0;
}

/** The parked answers whose TTL passed by `now`, in expiry order: what the expiry sweep takes. */
export function expiredParkedAnswers(tx: EntityManager, now: number): Promise<ParkedAnswer[]> {
  return (
    tx
      .createQueryBuilder(ParkedMessageEntity, 'p')
      .where('p.expiresAt <= :now', { now })
      // Expiry order walks the expiry index over the expired rows only (seq order read all).
      .orderBy('p.expiresAt', 'ASC')
      .addOrderBy('p.seq', 'ASC')
      .getMany()
  );
}

/** The earliest parking expiry; null when nothing is parked. */
export async function nextParkingExpiry(tx: EntityManager): Promise<number | null> {
  const row = await tx
    .createQueryBuilder(ParkedMessageEntity, 'p')
    .select('MIN(p.expiresAt)', 'at')
    .getRawOne<{ at: string | number | null }>();
  return row?.at === null || row?.at === undefined ? null : Number(row.at);
}

/** A parked answer by its `seq`, or null: what an operator's release reads first. */
export function parkedAnswerBySeq(tx: EntityManager, seq: number): Promise<ParkedAnswer | null> {
  return findRow(tx, ParkedMessageEntity, { seq });
}

/**
 * An operator takes a parked answer out (to release or expire it): the row as it was, or null
 * when it is no longer there (another node delivered or expired it meanwhile).
 */
export async function takeOutParkedAnswer(
  tx: EntityManager,
  seq: number,
): Promise<ParkedAnswer | null> {
  const row = await findRow(tx, ParkedMessageEntity, { seq });
  if (!row) return null;
  const removed = await deleteRows(tx, ParkedMessageEntity, { seq });
  return removed > 0 ? row : null; // another node delivered or expired it meanwhile
}

/** Every parked answer, in arrival order: what tests and tools inspect. */
export function listParkedAnswers(tx: EntityManager): Promise<ParkedAnswer[]> {
  return tx.find(ParkedMessageEntity, { order: { seq: 'ASC' } });
}

/**
 * Removes a parked answer to deliver or dead-letter it; false when another node (or the TTL
 * sweep) took it first.
 */
export async function takeParkedAnswer(tx: EntityManager, seq: number): Promise<boolean> {
  return (await deleteRows(tx, ParkedMessageEntity, { seq })) > 0;
}

/**
 * Gives `expectation` the parked answers nobody owns yet that match it (all, or the earliest),
 * in one UPDATE: its row locks serialise it with a release or an expiry of the same rows.
 * Resolves with how many it adopted.
 */
export async function adoptParkedAnswers(
  tx: EntityManager,
  instanceId: string,
  expectation: Pick<Expectation, 'id' | 'event' | 'correlationKey' | 'businessKey'>,
  which: 'all' | 'earliest',
): Promise<number> {
  const { event, correlationKey, businessKey } = expectation;
  if (correlationKey === null && businessKey === null) return 0;
  return updateRowsWhen(
    tx,
    ParkedMessageEntity,
    `adopt-${which}|${correlationKey !== null}|${businessKey !== null}`,
    { expectationId: null },
    { expectationId: expectation.id, instanceId },
    (sql) => {
      // Placeholders in text order: SQLite's `?` bind by position.
      const onEvent = `p."expectationId" IS NULL AND p."event" = ${sql.param('event', 2)}`;
      const keys: string[] = [];
      if (correlationKey !== null)
        keys.push(`p."correlationKey" = ${sql.param('correlationKey', 2)}`);
      if (businessKey !== null) keys.push(`p."businessKey" = ${sql.param('businessKey', 2)}`);
      const matching = `${onEvent} AND (${keys.join(' OR ')})`;
      return which === 'earliest'
        ? `"seq" = (SELECT MIN(p."seq") FROM ${sql.table} p WHERE ${matching})`
        : `"seq" IN (SELECT p."seq" FROM ${sql.table} p WHERE ${matching})`;
    },
    { event, correlationKey, businessKey },
  );
}

/**
 * Whether at least `cap` answers are parked under one answer key: its event with its correlation
 * key, else with its business key, else with neither. Reads at most `cap` index entries.
 */
export async function parkedUnderKeyReach(
  tx: EntityManager,
  key: Pick<ParkedAnswer, 'event' | 'correlationKey' | 'businessKey'>,
  cap: number,
): Promise<boolean> {
  const where =
    key.correlationKey !== null
      ? { event: key.event, correlationKey: key.correlationKey }
      : { event: key.event, correlationKey: null, businessKey: key.businessKey };
  return (await countRowsUpTo(tx, ParkedMessageEntity, where, cap)) >= cap;
}

/**
 * The instances answers are parked for: what recovery releases or settles at start, and what a
 * node releases when readiness notices may have been lost.
 */
export async function instancesWithParkedAnswers(tx: EntityManager): Promise<string[]> {
  const rows = await tx
    .createQueryBuilder(ParkedMessageEntity, 'p')
    .select('DISTINCT p.instanceId', 'instanceId')
    .where('p.instanceId IS NOT NULL')
    .getRawMany<{ instanceId: string }>();
  return rows.map((r) => r.instanceId);
}
