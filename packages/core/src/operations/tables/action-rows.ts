import type { EntityManager } from 'typeorm';
import { ParkedMessageEntity } from '../../store/entities/parked-message.entity';
import { ProcessGuardEntity } from '../../store/entities/process-guard.entity';
import { deleteRows, findRow } from '../../store/row-statements';

// The rows the store-only actions change beside dead letters (those go through the
// DeadLetterQueue): parked answers and process guards. Issue 17 moves them into a records layer.

/** Takes a parked answer out of the parking table; null when it is no longer there. */
export async function takeParked(
  tx: EntityManager,
  seq: number,
): Promise<ParkedMessageEntity | null> {
  const row = await findRow(tx, ParkedMessageEntity, { seq });
  if (!row) return null;
  const removed = await deleteRows(tx, ParkedMessageEntity, { seq });
  return removed > 0 ? row : null; // another node delivered or expired it meanwhile
}

/** A parked answer, or null. */
export function findParked(tx: EntityManager, seq: number): Promise<ParkedMessageEntity | null> {
  return findRow(tx, ParkedMessageEntity, { seq });
}

/** Frees a guard whoever holds it; the row as it was, or null when nobody held it. */
export async function takeGuard(
  tx: EntityManager,
  id: string,
  now: number,
): Promise<ProcessGuardEntity | null> {
  const row = await findRow(tx, ProcessGuardEntity, { id });
  if (!row || row.expiresAt <= now) return null;
  // By owner token: a holder that renewed or restarted it meanwhile is not released by mistake.
  const removed = await deleteRows(tx, ProcessGuardEntity, { id, ownerToken: row.ownerToken });
  return removed > 0 ? row : null;
}
