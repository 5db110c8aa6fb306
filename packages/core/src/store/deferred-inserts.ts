import type { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import { insertRows, type RowValues } from './row-statements';

/** Rows per INSERT when deferred rows are written (far below SQLite's bound-variable limit). */
const ROWS_PER_STATEMENT = 100;

interface DeferredRow {
  target: EntityTarget<ObjectLiteral>;
  row: RowValues<ObjectLiteral>;
}

/**
 * Append-only rows (audit entries) that units of work insert at the end of their transaction
 * rather than one statement each. On SQLite all units of a group commit add to one list, written
 * with a few multi-row INSERTs just before COMMIT; a unit that fails takes its rows with it.
 * Inside the transaction the rows are visible only after {@link flushDeferredInserts}.
 */
export class DeferredInserts {
  /** Rows of units that finished, in the order they were added. */
  private finished: DeferredRow[] = [];
  /** Rows of the unit running now. */
  private current: DeferredRow[] = [];

  add(row: DeferredRow): void {
    this.current.push(row);
  }

  unitSucceeded(): void {
    this.finished.push(...this.current);
    this.current = [];
  }

  unitFailed(): void {
    this.current = [];
  }

  /** Forgets everything (the transaction rolled back). */
  reset(): void {
    this.finished = [];
    this.current = [];
  }

  /** Writes every row added so far, finished units' first, keeping their order. */
  async flush(tx: EntityManager): Promise<void> {
    const rows = [...this.finished, ...this.current];
    this.finished = [];
    this.current = [];
    for (let start = 0; start < rows.length;) {
      const target = rows[start].target;
      let end = start + 1;
      while (end < rows.length && end - start < ROWS_PER_STATEMENT && rows[end].target === target)
        end++;
      await insertRows(
        tx,
        target,
        rows.slice(start, end).map((r) => r.row),
      );
      start = end;
    }
  }
}

// One list per transaction: transaction runners attach it to the EntityManager they hand out.
const deferredByManager = new WeakMap<EntityManager, DeferredInserts>();

/** Gives `tx` a fresh list of deferred rows (called by transaction runners). */
export function attachDeferredInserts(tx: EntityManager): DeferredInserts {
  const deferred = new DeferredInserts();
  deferredByManager.set(tx, deferred);
  return deferred;
}

/** Inserts `row` when the transaction of `tx` is about to commit (rolled back with it). */
export function deferInsert<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  row: RowValues<Entity>,
): void {
  const deferred = deferredByManager.get(tx);
  if (!deferred) throw new Error('deferInsert needs an EntityManager from PsiStore.transaction');
  deferred.add({ target, row });
}

/** Writes the deferred rows now, so that a read in this transaction sees them. */
export async function flushDeferredInserts(tx: EntityManager): Promise<void> {
  await deferredByManager.get(tx)?.flush(tx);
}
