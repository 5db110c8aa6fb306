import type { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import { insertRows, upsertRows, type RowValues } from './row-statements';

/** Rows per INSERT when deferred rows are written (far below SQLite's bound-variable limit). */
const ROWS_PER_STATEMENT = 100;

interface DeferredRow {
  target: EntityTarget<ObjectLiteral>;
  /** The row, or how to get it when it is written (undefined: nothing to write any more). */
  row: RowValues<ObjectLiteral> | (() => RowValues<ObjectLiteral> | undefined);
  /** For an upsert: the columns whose values name the row (the last write of a row wins). */
  conflict?: readonly string[];
}

/**
 * Rows that units of work write at the end of their transaction rather than one statement each:
 * append-only rows (audit entries) and upserts nothing in the batch reads without flushing first
 * (engine states). All units of a group commit add to one list, written just before COMMIT with
 * one multi-row INSERT (or INSERT … ON CONFLICT DO UPDATE) per table and 100 rows; a unit that
 * fails takes its rows with it. Inside the transaction the rows are visible only after
 * {@link flushDeferredInserts}.
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

  /**
   * Writes every row added so far, finished units' first: table by table (in the order each was
   * first written), each table's rows in the order they were added; of the upserts of one row,
   * the last.
   */
  async flush(tx: EntityManager, only?: EntityTarget<ObjectLiteral>): Promise<void> {
    let rows: DeferredRow[];
    if (only === undefined) {
      rows = [...this.finished, ...this.current];
      this.finished = [];
      this.current = [];
    } else {
      // One table's rows (tables' deferred rows do not refer to each other): the others stay
      // for the one multi-row statement each before COMMIT.
      const mine = (row: DeferredRow): boolean => row.target === only;
      rows = [...this.finished.filter(mine), ...this.current.filter(mine)];
      this.finished = this.finished.filter((row) => !mine(row));
      this.current = this.current.filter((row) => !mine(row));
    }
    const byTarget = new Map<EntityTarget<ObjectLiteral>, DeferredRow[]>();
    for (const deferred of rows) {
      const row = typeof deferred.row === 'function' ? deferred.row() : deferred.row;
      if (row === undefined) continue;
      const resolved = { ...deferred, row };
      const list = byTarget.get(deferred.target);
      if (list) list.push(resolved);
      else byTarget.set(deferred.target, [resolved]);
    }
    for (const [target, list] of byTarget) {
      const conflict = list[0].conflict;
      const values = conflict
        ? lastOfEachRow(list, conflict)
        : list.map((r) => r.row as RowValues<ObjectLiteral>);
      for (let start = 0; start < values.length; start += ROWS_PER_STATEMENT) {
        const chunk = values.slice(start, start + ROWS_PER_STATEMENT);
        if (conflict) await upsertRows(tx, target, chunk, conflict);
        else await insertRows(tx, target, chunk);
      }
    }
  }
}

/** The last values written for each row (named by its `conflict` columns), in write order. */
function lastOfEachRow(
  rows: readonly DeferredRow[],
  conflict: readonly string[],
): Array<RowValues<ObjectLiteral>> {
  const last = new Map<string, RowValues<ObjectLiteral>>();
  for (const deferred of rows) {
    const row = deferred.row as RowValues<ObjectLiteral>;
    const key = JSON.stringify(conflict.map((column) => row[column]));
    last.delete(key); // re-added at the end: a later write of a row comes after earlier others
    last.set(key, row);
  }
  return [...last.values()];
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

/**
 * Upserts `row` (named by its `conflict` columns) when the transaction of `tx` is about to commit;
 * a later upsert of the same row in the transaction wins. Reads of the table must flush first.
 */
export function deferUpsert<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  row: RowValues<Entity> | (() => RowValues<Entity> | undefined),
  conflict: ReadonlyArray<keyof Entity & string>,
): void {
  const deferred = deferredByManager.get(tx);
  if (!deferred) throw new Error('deferUpsert needs an EntityManager from PsiStore.transaction');
  deferred.add({
    target,
    row: row as DeferredRow['row'],
    conflict,
  });
}

/**
 * Writes the deferred rows now (those of table `only`, when given), so that a read in this
 * transaction sees them.
 */
export async function flushDeferredInserts<Entity extends ObjectLiteral>(
  tx: EntityManager,
  only?: EntityTarget<Entity>,
): Promise<void> {
  await deferredByManager.get(tx)?.flush(tx, only as EntityTarget<ObjectLiteral> | undefined);
}
