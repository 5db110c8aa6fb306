import type { EntityManager } from 'typeorm';
import { OutboxEntryEntity } from '../store/entities/outbox-entry.entity';
import { deferInsert, deferUpdate, flushDeferredWrites } from '../store/deferred-writes';
import { findRow, updateRows } from '../store/row-statements';

/**
 * The outbox record: a request committed together with its invocation's expectations, sent
 * (again) from here; a synchronous reply is kept on it so a re-run replays it instead of
 * sending again.
 *
 * A new entry and its mark as sent are written when the unit's transaction commits, with those
 * of the other units of its batch (one multi-row INSERT, one `UPDATE … FROM (VALUES …)`): no
 * step reads their outcome, and every read of the table in the transaction writes them first
 * (store/deferred-writes.ts). They still commit in the unit's transaction, so the crash order
 * is unchanged: the entry commits with its expectations, before the send.
 */
export type OutboxEntry = OutboxEntryEntity;

export function outboxEntry(tx: EntityManager, id: string): Promise<OutboxEntry | null> {
  return findRow(tx, OutboxEntryEntity, { id });
}

/** Every outbox entry (of one invocation), in creation order: what tests and tools inspect. */
export async function listOutboxEntries(
  tx: EntityManager,
  filter: { invocationId?: string } = {},
): Promise<OutboxEntry[]> {
  await flushDeferredWrites(tx, OutboxEntryEntity); // entries of units committing with this read
  return tx.find(OutboxEntryEntity, { where: filter, order: { createdAt: 'ASC', id: 'ASC' } });
}

/** Adds a request to send; written when the transaction commits (see above). */
export function addOutboxEntry(tx: EntityManager, entry: OutboxEntry): void {
  deferInsert(tx, OutboxEntryEntity, entry, ['id']);
}

/**
 * The transport took the request (with the service's reply, when it answered at once); written
 * when the transaction commits (see above).
 */
export function markSent(
  tx: EntityManager,
  id: string,
  attempts: number,
  sentAt: number,
  reply: string | null,
): void {
  deferUpdate(tx, OutboxEntryEntity, ['id'], { id, status: 'sent', attempts, sentAt, reply });
}

/** A technical failure: sent again at `nextAttemptAt`. */
export async function scheduleRetry(
  tx: EntityManager,
  id: string,
  attempts: number,
  nextAttemptAt: number,
  lastError: string,
): Promise<void> {
  await updateRows(tx, OutboxEntryEntity, { id }, { attempts, nextAttemptAt, lastError });
}

/** The request failed for good (a business error, or retries ran out). */
export async function markSendFailed(
  tx: EntityManager,
  id: string,
  attempts: number,
  lastError: string,
): Promise<void> {
  await updateRows(tx, OutboxEntryEntity, { id }, { status: 'failed', attempts, lastError });
}

/** A thaw: the invocation's failed requests are sent again from their first attempt. */
export async function resetFailedRequests(tx: EntityManager, invocationId: string): Promise<void> {
  await updateRows(
    tx,
    OutboxEntryEntity,
    { invocationId, status: 'failed' },
    { status: 'pending', attempts: 0 },
  );
}
