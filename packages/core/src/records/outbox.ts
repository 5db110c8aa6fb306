import type { EntityManager } from 'typeorm';
import { OutboxEntryEntity } from '../store/entities/outbox-entry.entity';
import { findRow, insertRow, updateRows } from '../store/row-statements';

/**
 * The outbox record: a request committed together with its invocation's expectations, sent
 * (again) from here; a synchronous reply is kept on it so a re-run replays it instead of
 * sending again.
 */
export type OutboxEntry = OutboxEntryEntity;

export function outboxEntry(tx: EntityManager, id: string): Promise<OutboxEntry | null> {
  return findRow(tx, OutboxEntryEntity, { id });
}

/** Every outbox entry (of one invocation), in creation order: what tests and tools inspect. */
export function listOutboxEntries(
  tx: EntityManager,
  filter: { invocationId?: string } = {},
): Promise<OutboxEntry[]> {
  return tx.find(OutboxEntryEntity, { where: filter, order: { createdAt: 'ASC', id: 'ASC' } });
}

export function addOutboxEntry(tx: EntityManager, entry: OutboxEntry): Promise<void> {
  return insertRow(tx, OutboxEntryEntity, entry);
}

/** The transport took the request (with the service's reply, when it answered at once). */
export async function markSent(
  tx: EntityManager,
  id: string,
  attempts: number,
  sentAt: number,
  reply: string | null,
): Promise<void> {
  await updateRows(tx, OutboxEntryEntity, { id }, { status: 'sent', attempts, sentAt, reply });
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
