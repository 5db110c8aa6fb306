import { randomUUID } from 'node:crypto';
import { LessThanOrEqual, type EntityManager } from 'typeorm';
import { GuardNotOwnerError } from '../errors';
import { ProcessGuardEntity } from '../store/entities/process-guard.entity';
import type { PsiStore } from '../store/psi-store';
import { deleteRows, findRow, updateRows } from '../store/row-statements';

/** A guard as stored: its holder (`owner`), the holder's token, and until when it holds. */
export type GuardRecord = ProcessGuardEntity;

/** Every guard row, held or expired, by id: what tests and tools inspect. */
export function listGuards(tx: EntityManager): Promise<GuardRecord[]> {
  return tx.find(ProcessGuardEntity, { order: { id: 'ASC' } });
}

/**
 * An operator frees a guard whoever holds it: the row as it was, or null when nobody held it. By
 * owner token, so a holder that renewed or restarted it meanwhile is not released by mistake.
 */
export async function forceReleaseGuard(
  tx: EntityManager,
  id: string,
  now: number,
): Promise<GuardRecord | null> {
  const row = await findRow(tx, ProcessGuardEntity, { id });
  if (!row || row.expiresAt <= now) return null;
  const removed = await deleteRows(tx, ProcessGuardEntity, { id, ownerToken: row.ownerToken });
  return removed > 0 ? row : null;
}

/** The answer of {@link ProcessGuard.start}. */
export type GuardStartResult =
  | { started: true; ownerToken: string; startedAt: number; expiresAt: number }
  | { started: false; heldBy: string; since: number; expiresAt: number };

/** What {@link ProcessGuard.status} knows about an id. */
export type GuardStatus =
  { running: true; heldBy: string; since: number; expiresAt: number } | { running: false };

/**
 * The state tracker of the bulk-job scenario: one holder per process id at a time, across every
 * process sharing the store. A holder that dies without stopping is freed when its TTL passes.
 */
export class ProcessGuard {
  constructor(
    private readonly store: PsiStore,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Takes the guard for `id` unless someone holds it; `owner` is shown to whoever is refused. */
  start(id: string, ttlMs: number, owner = 'anonymous'): Promise<GuardStartResult> {
    return this.store.transaction(async (tx) => {
      const now = this.clock();
      await tx
        .createQueryBuilder()
        .delete()
        .from(ProcessGuardEntity)
        .where({ id, expiresAt: LessThanOrEqual(now) })
        .execute();
      const ownerToken = randomUUID();
      const expiresAt = now + ttlMs;
      await tx
        .createQueryBuilder()
        .insert()
        .into(ProcessGuardEntity)
        .values({ id, ownerToken, owner, startedAt: now, expiresAt })
        .orIgnore()
        .execute();
      const holder = await tx.findOneByOrFail(ProcessGuardEntity, { id });
      if (holder.ownerToken === ownerToken)
        return { started: true, ownerToken, startedAt: now, expiresAt };
      return {
        started: false,
        heldBy: holder.owner,
        since: holder.startedAt,
        expiresAt: holder.expiresAt,
      };
    });
  }

  async isRunning(id: string): Promise<boolean> {
    return (await this.status(id)).running;
  }

  status(id: string): Promise<GuardStatus> {
    return this.store.transaction(async (tx) => {
      const holder = await findRow(tx, ProcessGuardEntity, { id });
      if (!holder || holder.expiresAt <= this.clock()) return { running: false };
      return {
        running: true,
        heldBy: holder.owner,
        since: holder.startedAt,
        expiresAt: holder.expiresAt,
      };
    });
  }

  /** Frees the guard; only the holder of `ownerToken` may (GuardNotOwnerError otherwise). */
  stop(id: string, ownerToken: string): Promise<void> {
    return this.store.transaction(async (tx) => {
      const result = await deleteRows(tx, ProcessGuardEntity, { id, ownerToken });
      if (result === 0) throw new GuardNotOwnerError(id);
    });
  }

  /** Extends a held guard (a long job reporting it is alive). */
  renew(id: string, ownerToken: string, ttlMs: number): Promise<number> {
    return this.store.transaction(async (tx) => {
      const expiresAt = this.clock() + ttlMs;
      const result = await updateRows(tx, ProcessGuardEntity, { id, ownerToken }, { expiresAt });
      if (result === 0) throw new GuardNotOwnerError(id);
      return expiresAt;
    });
  }
}
