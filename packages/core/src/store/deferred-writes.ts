import type { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import {
  guardStatements,
  insertRows,
  updateRowsByKey,
  upsertRows,
  type RowValues,
} from './row-statements';

/** Rows per statement when deferred rows are written (far below SQLite's bound-variable limit). */
const ROWS_PER_STATEMENT = 100;

type Kind = 'insert' | 'upsert' | 'update';

interface DeferredWrite {
  target: EntityTarget<ObjectLiteral>;
  kind: Kind;
  /** The row, or how to get it when it is written (undefined: nothing to write any more). */
  row: RowValues<ObjectLiteral> | (() => RowValues<ObjectLiteral> | undefined);
  /**
   * The columns that name the row: an upsert's conflict columns, an update's WHERE. With `key`,
   * what lets a statement on the table that names another row leave this write deferred.
   */
  keyColumns?: readonly string[];
  /** The values of `keyColumns` (JSON), for writes that name their row. */
  key?: string;
}

/**
 * Writes that units of work make at the end of their transaction rather than one statement each,
 * because nothing in the unit needs their outcome: append-only rows (audit entries, outbox
 * entries), upserts (engine states) and updates of one row by its key whose row count nobody
 * reads (an outbox entry marked sent). All units of a group commit add to one list, written just
 * before COMMIT with one multi-row statement per table, kind and 100 rows (an update as
 * `UPDATE … FROM (VALUES …)`); a unit that fails takes its writes with it.
 *
 * Inside the transaction the writes are not visible until flushed, so every row statement on a
 * table first writes what is deferred there (see `guardStatements`): all of it, or, for a
 * statement that names one row by the columns the writes name theirs with (a read of one engine
 * state, of one outbox entry), only that row's writes. Reads that do not go through row
 * statements (TypeORM's finds and query builder) call {@link flushDeferredWrites} first.
 */
export class DeferredWrites {
  /** Writes of units that finished, in the order they were added. */
  private finished: DeferredWrite[] = [];
  /** Writes of the unit running now. */
  private current: DeferredWrite[] = [];
  /** How many writes wait per table (a statement on a table without any costs a map lookup). */
  private readonly waiting = new Map<EntityTarget<ObjectLiteral>, number>();
  /** Set while deferred writes are being written: their own statements must not flush again. */
  private writing = false;

  add(write: DeferredWrite): void {
    this.current.push(write);
    this.waiting.set(write.target, (this.waiting.get(write.target) ?? 0) + 1);
  }

  unitSucceeded(): void {
    this.finished.push(...this.current);
    this.current = [];
  }

  unitFailed(): void {
    this.forget(this.current);
    this.current = [];
  }

  /** Forgets everything (the transaction rolled back). */
  reset(): void {
    this.finished = [];
    this.current = [];
    this.waiting.clear();
  }

  /**
   * Writes every write added so far, finished units' first (see {@link writeAll}); given a table,
   * that table's writes only, and given a `where` too, only the writes that may touch the rows
   * it matches (those of the row it names, when it names one as the writes do).
   */
  flush(
    tx: EntityManager,
    only?: EntityTarget<ObjectLiteral>,
    where?: ObjectLiteral,
  ): Promise<void> | undefined {
    if (this.writing) return undefined;
    if (only !== undefined && !this.waiting.get(only)) return undefined;
    const taken = (write: DeferredWrite): boolean =>
      only === undefined || (write.target === only && mayTouch(write, where));
    const writes = [...this.finished.filter(taken), ...this.current.filter(taken)];
    if (writes.length === 0) return undefined;
    this.finished = this.finished.filter((write) => !taken(write));
    this.current = this.current.filter((write) => !taken(write));
    this.forget(writes);
    return this.writeAll(tx, writes);
  }

  private forget(writes: readonly DeferredWrite[]): void {
    for (const write of writes) {
      const left = (this.waiting.get(write.target) ?? 1) - 1;
      if (left > 0) this.waiting.set(write.target, left);
      else this.waiting.delete(write.target);
    }
  }

  /**
   * Table by table (in the order each was first written), each table's writes in groups of one
   * kind and one set of columns, a group's rows in the order they were added; of the writes of
   * one row in a group, the last. A write joins the latest group of its kind unless a write of
   * the same row went to another group since: writes of other rows commute, those of one row
   * keep their order.
   */
  private async writeAll(tx: EntityManager, writes: readonly DeferredWrite[]): Promise<void> {
    this.writing = true;
    try {
      for (const [target, groups] of groupWrites(writes)) {
        for (const group of groups) await writeGroup(tx, target, group);
      }
    } finally {
      this.writing = false;
    }
  }
}

interface Group {
  shape: string;
  kind: Kind;
  keyColumns: readonly string[];
  rows: Array<RowValues<ObjectLiteral>>;
  /** The keys of the rows in the group (writes without a key never block one another). */
  keys: Set<string>;
}

function groupWrites(writes: readonly DeferredWrite[]): Map<EntityTarget<ObjectLiteral>, Group[]> {
  const byTarget = new Map<EntityTarget<ObjectLiteral>, Group[]>();
  for (const write of writes) {
    const row = typeof write.row === 'function' ? write.row() : write.row;
    if (row === undefined) continue;
    const keyColumns = write.keyColumns ?? [];
    const set = write.kind === 'update' ? Object.keys(row).filter((k) => row[k] !== undefined) : [];
    const shape = `${write.kind}|${keyColumns.join(',')}|${set.sort().join(',')}`;
    let groups = byTarget.get(write.target);
    if (!groups) byTarget.set(write.target, (groups = []));
    let index = -1;
    for (let i = groups.length - 1; i >= 0; i--) {
      if (groups[i].shape === shape) {
        index = i;
        break;
      }
      // A write of this row in a later group of another shape: this one must come after it.
      if (write.key !== undefined && groups[i].keys.has(write.key)) break;
    }
    let group = index >= 0 ? groups[index] : undefined;
    if (!group) {
      group = { shape, kind: write.kind, keyColumns, rows: [], keys: new Set() };
      groups.push(group);
    }
    group.rows.push(row);
    if (write.key !== undefined) group.keys.add(write.key);
  }
  return byTarget;
}

async function writeGroup(
  tx: EntityManager,
  target: EntityTarget<ObjectLiteral>,
  group: Group,
): Promise<void> {
  const rows = group.kind === 'insert' ? group.rows : lastOfEachRow(group.rows, group.keyColumns);
  for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
    const chunk = rows.slice(start, start + ROWS_PER_STATEMENT);
    if (group.kind === 'insert') await insertRows(tx, target, chunk);
    else if (group.kind === 'upsert') await upsertRows(tx, target, chunk, group.keyColumns);
    else await updateRowsByKey(tx, target, group.keyColumns, chunk);
  }
}

/** Whether `write` may change what a statement on its table matching `where` reads or writes. */
function mayTouch(write: DeferredWrite, where: ObjectLiteral | undefined): boolean {
  if (where === undefined || write.key === undefined || !write.keyColumns) return true;
  const named = write.keyColumns.map((column) => where[column] as unknown);
  // Only a statement that names one row by every key column can tell it is another row.
  if (named.some((value) => value === undefined || value === null || Array.isArray(value))) {
    return true;
  }
  return keyOf(named) === write.key;
}

function keyOf(values: readonly unknown[]): string {
  return JSON.stringify(values);
}

/** The last values written for each row (named by `columns`), in write order. */
function lastOfEachRow(
  rows: ReadonlyArray<RowValues<ObjectLiteral>>,
  columns: readonly string[],
): Array<RowValues<ObjectLiteral>> {
  const last = new Map<string, RowValues<ObjectLiteral>>();
  for (const row of rows) {
    const key = keyOf(columns.map((column) => row[column]));
    last.delete(key); // re-added at the end: a later write of a row comes after earlier others
    last.set(key, row);
  }
  return [...last.values()];
}

// One list per transaction: transaction runners attach it to the EntityManager they hand out.
const deferredByManager = new WeakMap<EntityManager, DeferredWrites>();

/**
 * Gives `tx` a fresh list of deferred writes (called by transaction runners), and makes every row
 * statement on `tx` write the deferred writes of its table that it may touch first.
 */
export function attachDeferredWrites(tx: EntityManager): DeferredWrites {
  const deferred = new DeferredWrites();
  deferredByManager.set(tx, deferred);
  guardStatements(tx, (target, where) => deferred.flush(tx, target, where));
  return deferred;
}

function deferredOf(tx: EntityManager, what: string): DeferredWrites {
  const deferred = deferredByManager.get(tx);
  if (!deferred) throw new Error(`${what} needs an EntityManager from PsiStore.transaction`);
  return deferred;
}

/** Inserts `row` when the transaction of `tx` is about to commit (rolled back with it). */
export function deferInsert<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  row: RowValues<Entity>,
  /** The columns that name the row (its primary key), when statements read it by them. */
  keyColumns?: ReadonlyArray<keyof Entity & string>,
): void {
  deferredOf(tx, 'deferInsert').add({
    target,
    kind: 'insert',
    row,
    keyColumns,
    key: keyColumns && keyOf(keyColumns.map((column) => row[column])),
  });
}

/**
 * Upserts a row (named by its `conflict` columns, whose values `identity` holds) when the
 * transaction of `tx` is about to commit; a later upsert of the same row in the transaction wins.
 * `row` may be a function: the row as it is when written (undefined: nothing to write any more).
 */
export function deferUpsert<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  row: RowValues<Entity> | (() => RowValues<Entity> | undefined),
  conflict: ReadonlyArray<keyof Entity & string>,
  identity: RowValues<Entity> = row as RowValues<Entity>,
): void {
  deferredOf(tx, 'deferUpsert').add({
    target,
    kind: 'upsert',
    row: row as DeferredWrite['row'],
    keyColumns: conflict,
    key: keyOf(conflict.map((column) => identity[column])),
  });
}

/**
 * Sets `values` on the row whose `keyColumns` hold the values in `values` when the transaction of
 * `tx` is about to commit: for updates whose row count nobody reads. A later update of the same
 * row with the same columns in the transaction wins.
 */
export function deferUpdate<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  keyColumns: ReadonlyArray<keyof Entity & string>,
  values: RowValues<Entity>,
): void {
  deferredOf(tx, 'deferUpdate').add({
    target,
    kind: 'update',
    row: values,
    keyColumns,
    key: keyOf(keyColumns.map((column) => values[column])),
  });
}

/**
 * Writes the deferred writes now (those of table `only`, when given), so that a read in this
 * transaction that does not go through row statements sees them.
 */
export async function flushDeferredWrites<Entity extends ObjectLiteral>(
  tx: EntityManager,
  only?: EntityTarget<Entity>,
): Promise<void> {
  await deferredByManager.get(tx)?.flush(tx, only as EntityTarget<ObjectLiteral> | undefined);
}
