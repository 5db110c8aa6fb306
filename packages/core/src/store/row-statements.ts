// About 550 lines: the compiled row statements (insert, update, delete, find, the written-SQL
// reads and updates) and the conflict handling of both SQL dialects are one small query layer;
// splitting by verb would only spread the dialect rules and the compiler over several files.
import {
  QueryFailedError,
  type EntityManager,
  type EntityTarget,
  type ObjectLiteral,
} from 'typeorm';
import { rowExecutorFor, type RawResult, type RowExecutor } from './row-executors';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata';

/**
 * The hot path's row statements: find, count, update, delete, insert and upsert by column
 * equality. TypeORM's query builder re-parses, re-aliases and re-escapes every statement it
 * builds, about as much main-thread time as the statement itself costs on SQLite (see
 * bench/entries/psi-correlation.ts). Here the SQL of each shape (entity, columns compared,
 * columns written, order) is built once from TypeORM's metadata and run on the transaction's own
 * connection (a prepared statement on SQLite, a named one on PostgreSQL). Values go through the
 * driver's own conversions (transformers, booleans), so rows read back exactly as TypeORM's.
 *
 * In a where object, `null` compares with IS NULL and an array with IN. Anything richer (ranges,
 * OR) stays on TypeORM.
 *
 * A little over 400 lines: the statement shapes and the compilation they share (placeholders,
 * conversions, prepared names) are one job, and splitting them would export the compiler's
 * internals.
 */

/** `{ id: 'x', closedAt: null, status: ['open', 'claimed'] }` →
 * `"id" = ? AND "closedAt" IS NULL AND "status" IN (?, ?)`. */
export type RowWhere<Entity> = {
  [K in keyof Entity]?: Entity[K] | null | ReadonlyArray<Entity[K]>;
};

/** Columns written; `undefined` leaves a column out (its default on insert, unchanged on update). */
export type RowValues<Entity> = { [K in keyof Entity]?: Entity[K] | null };

export interface FindRowsOptions<Entity> {
  order?: { [K in keyof Entity]?: 'ASC' | 'DESC' };
  limit?: number;
}

/** The rows of `target` matching `where`. */
export async function findRows<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  where: RowWhere<Entity>,
  options: FindRowsOptions<Entity> = {},
): Promise<Entity[]> {
  const statements = statementsOf(tx, target);
  const orderKeys = Object.keys(options.order ?? {});
  const order = orderKeys.map((key) => `${key} ${options.order?.[key]}`).join(',');
  const shape = `find|${whereShape(where)}|${order}|${options.limit ?? ''}`;
  const compiled = statements.compile(shape, (sql) => {
    const order = orderKeys.map(
      (key) =>
        `${sql.name(statements.column(key))} ${options.order?.[key] === 'DESC' ? 'DESC' : 'ASC'}`,
    );
    return (
      `SELECT ${statements.metadata.columns.map((c) => sql.name(c)).join(', ')} ` +
      `FROM ${sql.table} WHERE ${sql.where(where, 0)}` +
      (order.length > 0 ? ` ORDER BY ${order.join(', ')}` : '') +
      (options.limit !== undefined ? ` LIMIT ${Math.trunc(options.limit)}` : '')
    );
  });
  const { rows } = await compiled.run(tx, 'rows', compiled.bind(where));
  return rows.map((raw) => statements.hydrate(raw) as Entity);
}

/** The first row matching `where`, or null. */
export async function findRow<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  where: RowWhere<Entity>,
): Promise<Entity | null> {
  const [row] = await findRows(tx, target, where, { limit: 1 });
  return row ?? null;
}

/** How many rows match `where`. */
export async function countRows<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  where: RowWhere<Entity>,
): Promise<number> {
  const statements = statementsOf(tx, target);
  const compiled = statements.compile(
    `count|${whereShape(where)}`,
    (sql) => `SELECT COUNT(1) AS "n" FROM ${sql.table} WHERE ${sql.where(where, 0)}`,
  );
  const { rows } = await compiled.run(tx, 'rows', compiled.bind(where));
  return Number((rows[0] as { n: unknown } | undefined)?.n ?? 0); // pg counts as text
}

/** How many rows match `where`, counting no further than `cap` (reads at most `cap` index entries). */
export async function countRowsUpTo<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  where: RowWhere<Entity>,
  cap: number,
): Promise<number> {
  const statements = statementsOf(tx, target);
  const limit = Math.trunc(cap);
  // The matching rows counted here, not by COUNT over a derived table: SQLite would plan that
  // as a scan of the derived table (test/store/query-plans), and at most `cap` rows of one
  // constant column come back.
  const compiled = statements.compile(
    `count-up-to|${whereShape(where)}|${limit}`,
    (sql) => `SELECT 1 AS "x" FROM ${sql.table} WHERE ${sql.where(where, 0)} LIMIT ${limit}`,
  );
  const { rows } = await compiled.run(tx, 'rows', compiled.bind(where));
  return rows.length;
}

/**
 * The raw rows of a read written in SQL by `write` (`sql.table`, quoted names, and
 * `sql.param(key, 0)` for a value of `params`), compiled once per `shape`: reads richer than
 * column equality (DISTINCT, OR) off TypeORM's query builder. Values come back as the driver
 * returns them, not converted.
 */
export async function selectRows<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  shape: string,
  write: (sql: SqlWriter) => string,
  params: RowValues<Entity> = {},
): Promise<ObjectLiteral[]> {
  const statements = statementsOf(tx, target);
  const compiled = statements.compile(`select|${shape}`, write);
  const { rows } = await compiled.run(tx, 'rows', compiled.bind(params));
  return rows;
}

/**
 * The rows of `target` matching either of two where objects, read in one statement, as
 * {@link findRows} reads them: two reads of one table that would otherwise be two round trips.
 */
export async function findRowsEither<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  first: RowWhere<Entity>,
  second: RowWhere<Entity>,
): Promise<Entity[]> {
  const statements = statementsOf(tx, target);
  const shape = `find-either|${whereShape(first)}|${whereShape(second)}`;
  const compiled = statements.compile(
    shape,
    (sql) =>
      `SELECT ${statements.metadata.columns.map((c) => sql.name(c)).join(', ')} ` +
      `FROM ${sql.table} WHERE (${sql.where(first, 0)}) OR (${sql.where(second, 1)})`,
  );
  const { rows } = await compiled.run(tx, 'rows', compiled.bind(first, second));
  return rows.map((raw) => statements.hydrate(raw) as Entity);
}

/** Sets `values` on the rows matching `where`; resolves with how many rows changed. */
export async function updateRows<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  where: RowWhere<Entity>,
  values: RowValues<Entity>,
): Promise<number> {
  const statements = statementsOf(tx, target);
  const setKeys = definedKeys(values);
  const compiled = statements.compile(`update|${setKeys.join(',')}|${whereShape(where)}`, (sql) => {
    const set = setKeys.map((key) => `${sql.name(statements.column(key))} = ${sql.param(key, 0)}`);
    return `UPDATE ${sql.table} SET ${set.join(', ')} WHERE ${sql.where(where, 1)}`;
  });
  const { affected } = await compiled.run(tx, 'count', compiled.bind(values, where));
  return affected;
}

/**
 * {@link updateRows} under a further condition written in SQL by `condition` (literals,
 * `sql.param(key, 1)` for a value of `where`, and `sql.param(key, 2)` for a value of `params`,
 * values only the condition compares), compiled once per `shape`: a decision that would
 * otherwise be a read and then an update, in one statement.
 */
export async function updateRowsWhen<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  shape: string,
  where: RowWhere<Entity>,
  values: RowValues<Entity>,
  condition: (sql: SqlWriter) => string,
  params: RowValues<Entity> = {},
): Promise<number> {
  const statements = statementsOf(tx, target);
  const setKeys = definedKeys(values);
  const name = `update-when|${shape}|${setKeys.join(',')}|${whereShape(where)}`;
  const compiled = statements.compile(name, (sql) => {
    const set = setKeys.map((key) => `${sql.name(statements.column(key))} = ${sql.param(key, 0)}`);
    const conditions = `${sql.where(where, 1)} AND ${condition(sql)}`;
    return `UPDATE ${sql.table} SET ${set.join(', ')} WHERE ${conditions}`;
  });
  const { affected } = await compiled.run(tx, 'count', compiled.bind(values, where, params));
  return affected;
}

/**
 * Updates the rows matching `where`, setting `values` and the columns `set` writes in SQL
 * (`"status" = CASE … END`), and resolves with what `returning` selects of each changed row
 * (PostgreSQL and SQLite ≥ 3.35 both have RETURNING): a read, a decision and a write in one
 * statement. Placeholders as in {@link updateRowsWhen}: `sql.param(key, 1)` reads `where`.
 */
export async function updateRowsReturning<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  shape: string,
  where: RowWhere<Entity>,
  values: RowValues<Entity>,
  written: { set: (sql: SqlWriter) => string; returning: (sql: SqlWriter) => string },
): Promise<ObjectLiteral[]> {
  const statements = statementsOf(tx, target);
  const setKeys = definedKeys(values);
  const name = `update-returning|${shape}|${setKeys.join(',')}|${whereShape(where)}`;
  const compiled = statements.compile(name, (sql) => {
    const set = setKeys.map((key) => `${sql.name(statements.column(key))} = ${sql.param(key, 0)}`);
    // The written columns come after the bound ones, so their placeholders number after them.
    set.push(written.set(sql));
    const assignments = set.join(', ');
    const conditions = sql.where(where, 1);
    return `UPDATE ${sql.table} SET ${assignments} WHERE ${conditions} RETURNING ${written.returning(sql)}`;
  });
  const { rows } = await compiled.run(tx, 'rows', compiled.bind(values, where));
  return rows;
}

/** Deletes the rows matching `where`; resolves with how many there were. */
export async function deleteRows<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  where: RowWhere<Entity>,
): Promise<number> {
  const statements = statementsOf(tx, target);
  const compiled = statements.compile(
    `delete|${whereShape(where)}`,
    (sql) => `DELETE FROM ${sql.table} WHERE ${sql.where(where, 0)}`,
  );
  const { affected } = await compiled.run(tx, 'count', compiled.bind(where));
  return affected;
}

/**
 * Inserts one row without reading anything back (TypeORM's `insert` SELECTs the defaulted
 * columns afterwards, one more statement that tells PSI nothing it did not write itself).
 */
export async function insertRow<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  row: RowValues<Entity>,
): Promise<void> {
  await insertRows(tx, target, [row]);
}

/**
 * Inserts `row` unless a row with the same `conflict` columns (a unique index) exists; resolves
 * with whether it inserted. Where another transaction is inserting the same key, waits for it.
 */
export async function insertRowIfAbsent<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  row: RowValues<Entity>,
  conflict: ReadonlyArray<keyof Entity & string>,
): Promise<boolean> {
  const statements = statementsOf(tx, target);
  const keys = definedKeys(row);
  const compiled = statements.compile(
    `insert-if-absent|${keys.join(',')}|${conflict.join(',')}`,
    (sql) => {
      const name = (key: string): string => sql.name(statements.column(key));
      return (
        `INSERT INTO ${sql.table} (${keys.map(name).join(', ')}) ` +
        `VALUES (${keys.map((key) => sql.param(key, 0)).join(', ')}) ` +
        `ON CONFLICT (${conflict.map(name).join(', ')}) DO NOTHING`
      );
    },
  );
  const { affected } = await compiled.run(tx, 'count', compiled.bind(row));
  return affected > 0;
}

/** Inserts one row and resolves with the id the database generated for it (`seq` columns). */
export async function insertRowReturningId<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  row: RowValues<Entity>,
): Promise<number> {
  const statements = statementsOf(tx, target);
  const generated = statements.metadata.primaryColumns.find((c) => c.isGenerated);
  if (!generated) throw new Error(`${statements.metadata.name} has no generated primary column`);
  const keys = definedKeys(row);
  const compiled = statements.compile(`insert-returning|${keys.join(',')}`, (sql) => {
    const columns = keys.map((key) => sql.name(statements.column(key))).join(', ');
    const values = keys.map((key) => sql.param(key, 0)).join(', ');
    // SQLite reports the rowid itself (lastID); PostgreSQL has to be asked.
    const returning = sql.dialect === 'postgres' ? ` RETURNING ${sql.name(generated)}` : '';
    return `INSERT INTO ${sql.table} (${columns}) VALUES (${values})${returning}`;
  });
  const result = await compiled.run(tx, 'count', compiled.bind(row));
  return Number(result.rows[0]?.[generated.databaseName] ?? result.lastId);
}

/** Inserts rows in one statement. */
export async function insertRows<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  rows: ReadonlyArray<RowValues<Entity>>,
): Promise<void> {
  if (rows.length === 0) return;
  const statements = statementsOf(tx, target);
  // Every row binds every column any of them names: one a row leaves out is NULL there.
  const keys = [...new Set(rows.flatMap((row) => definedKeys(row)))];
  const compiled = statements.compile(`insert|${keys.join(',')}|${rows.length}`, (sql) => {
    const columns = keys.map((key) => sql.name(statements.column(key))).join(', ');
    const tuples = rows.map((_, i) => `(${keys.map((key) => sql.param(key, i)).join(', ')})`);
    return `INSERT INTO ${sql.table} (${columns}) VALUES ${tuples.join(', ')}`;
  });
  await compiled.run(tx, 'count', compiled.bind(...rows));
}

/** Inserts `row`, or updates the other columns of the row with the same `conflict` columns. */
export function upsertRow<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  row: RowValues<Entity>,
  conflict: ReadonlyArray<keyof Entity & string>,
): Promise<void> {
  return upsertRows(tx, target, [row], conflict);
}

/** {@link upsertRow} for several rows in one statement; no two may share their `conflict` values. */
export async function upsertRows<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  rows: ReadonlyArray<RowValues<Entity>>,
  conflict: ReadonlyArray<keyof Entity & string>,
): Promise<void> {
  if (rows.length === 0) return;
  const statements = statementsOf(tx, target);
  const keys = [...new Set(rows.flatMap((row) => definedKeys(row)))];
  const shape = `upsert|${keys.join(',')}|${conflict.join(',')}|${rows.length}`;
  const compiled = statements.compile(shape, (sql) => {
    const name = (key: string): string => sql.name(statements.column(key));
    const updated = keys.filter((key) => !conflict.includes(key));
    const tuples = rows.map((_, i) => `(${keys.map((key) => sql.param(key, i)).join(', ')})`);
    return (
      `INSERT INTO ${sql.table} (${keys.map(name).join(', ')}) VALUES ${tuples.join(', ')} ` +
      `ON CONFLICT (${conflict.map(name).join(', ')}) DO UPDATE SET ` +
      updated.map((key) => `${name(key)} = EXCLUDED.${name(key)}`).join(', ')
    );
  });
  await compiled.run(tx, 'count', compiled.bind(...rows));
}

/**
 * Runs `sql` (fixed text, `$n` placeholders: PostgreSQL only) as a named prepared statement on
 * the transaction's own connection, values as given: statements no entity describes (an
 * advisory lock), off TypeORM's per-query path too.
 */
export async function runPreparedOnPostgres(
  tx: EntityManager,
  sql: string,
  values: unknown[],
): Promise<ObjectLiteral[]> {
  const executor = rowExecutorFor('postgres');
  const result = await onConnection(tx, sql, values, (connection) =>
    executor(connection, { sql, name: statementName(sql) }, 'rows', values),
  );
  return result.rows;
}

/**
 * Runs `execute` on the driver connection of `tx`: its transaction's, or for a read outside one
 * (`PsiStore.read` on PostgreSQL hands the data source's manager) a pooled connection taken for
 * this statement alone, as TypeORM itself would.
 */
async function onConnection(
  tx: EntityManager,
  sql: string,
  values: unknown[],
  execute: (connection: unknown) => Promise<RawResult> | RawResult,
): Promise<RawResult> {
  const runner = tx.queryRunner ?? tx.connection.createQueryRunner();
  if (tx.connection.options.logging) tx.connection.logger.logQuery(sql, values, runner);
  const owned = runner !== tx.queryRunner;
  try {
    const connection: unknown = await runner.connect();
    try {
      return await execute(connection);
    } catch (error) {
      throw new QueryFailedError(sql, values, error as Error);
    }
  } finally {
    if (owned) await runner.release();
  }
}

// --- compilation --------------------------------------------------------------------------

type Dialect = 'sqlite' | 'postgres';

/** One bound value: which of the objects passed to `bind`, and which column of it. */
interface Slot {
  object: number;
  column: ColumnMetadata;
  /** For IN: the index in the array value. */
  item?: number;
}

/** Writes one statement: quoted names, and a placeholder per bound value. */
export interface SqlWriter {
  readonly dialect: Dialect;
  readonly table: string;
  name(column: ColumnMetadata): string;
  /** A placeholder for column `key` of bound object `object`. */
  param(key: string, object: number): string;
  /** `"a" = ? AND "b" IS NULL` for the keys of `where`, read from bound object `object`. */
  where(where: ObjectLiteral, object: number): string;
}

/** One statement of one shape: its SQL, and where each placeholder's value comes from. */
class CompiledStatement {
  constructor(
    readonly sql: string,
    /** PostgreSQL prepared-statement name (one per SQL text in this process). */
    private readonly name: string,
    private readonly executor: RowExecutor,
    private readonly slots: readonly Slot[],
  ) {}

  bind(...objects: ObjectLiteral[]): unknown[] {
    return this.slots.map(({ object, column, item }) => {
      const value = objects[object][column.propertyName] as unknown;
      return item === undefined ? value : (value as unknown[])[item];
    });
  }

  async run(tx: EntityManager, want: 'rows' | 'count', values: unknown[]): Promise<RawResult> {
    const driver = tx.connection.driver;
    const converted = values.map((value, i) =>
      value === null || value === undefined
        ? null
        : (driver.preparePersistentValue(value, this.slots[i].column) as unknown),
    );
    return onConnection(tx, this.sql, converted, (connection) =>
      this.executor(connection, { sql: this.sql, name: this.name }, want, converted),
    );
  }
}

/** The compiled statements of one entity on one data source. */
class EntityStatements {
  private readonly compiled = new Map<string, CompiledStatement>();

  constructor(
    readonly metadata: EntityMetadata,
    private readonly dialect: Dialect,
    private readonly executor: RowExecutor,
    private readonly escape: (name: string) => string,
  ) {}

  column(key: string): ColumnMetadata {
    const column = this.metadata.findColumnWithPropertyName(key);
    if (!column) throw new Error(`${this.metadata.name} has no column "${key}"`);
    return column;
  }

  compile(shape: string, write: (sql: SqlWriter) => string): CompiledStatement {
    const found = this.compiled.get(shape);
    if (found) return found;
    const slots: Slot[] = [];
    const placeholder = (key: string, object: number, item?: number): string => {
      slots.push({ object, column: this.column(key), item });
      return this.dialect === 'postgres' ? `$${slots.length}` : '?';
    };
    const sql = write({
      dialect: this.dialect,
      table: this.escape(this.metadata.tableName),
      name: (column) => this.escape(column.databaseName),
      param: placeholder,
      where: (where, object) => {
        const keys = definedKeys(where);
        if (keys.length === 0) return '1 = 1';
        return keys
          .map((key) => {
            const column = this.escape(this.column(key).databaseName);
            const value: unknown = where[key];
            if (value === null) return `${column} IS NULL`;
            if (!Array.isArray(value)) return `${column} = ${placeholder(key, object)}`;
            if (value.length === 0) return '1 = 0';
            return `${column} IN (${value.map((_, i) => placeholder(key, object, i)).join(', ')})`;
          })
          .join(' AND ');
      },
    });
    const compiled = new CompiledStatement(sql, statementName(sql), this.executor, slots);
    this.compiled.set(shape, compiled);
    return compiled;
  }

  /** An entity instance from a raw row, converted as TypeORM's own reads convert it. */
  hydrate(raw: ObjectLiteral): ObjectLiteral {
    const driver = this.metadata.connection.driver;
    const target = this.metadata.target;
    const entity = (
      typeof target === 'function' ? Object.create(target.prototype as object) : {}
    ) as ObjectLiteral;
    for (const column of this.metadata.columns) {
      entity[column.propertyName] = driver.prepareHydratedValue(raw[column.databaseName], column);
    }
    return entity;
  }
}

// Per data source (a process may open several stores), per entity.
const statementsBySource = new WeakMap<
  object,
  Map<EntityTarget<ObjectLiteral>, EntityStatements>
>();

function statementsOf(tx: EntityManager, target: EntityTarget<ObjectLiteral>): EntityStatements {
  const dataSource = tx.connection;
  let byTarget = statementsBySource.get(dataSource);
  if (!byTarget) {
    byTarget = new Map();
    statementsBySource.set(dataSource, byTarget);
  }
  let statements = byTarget.get(target);
  if (!statements) {
    const type = dataSource.options.type;
    const driver = dataSource.driver;
    statements = new EntityStatements(
      dataSource.getMetadata(target),
      type === 'postgres' ? 'postgres' : 'sqlite',
      rowExecutorFor(type),
      (name) => driver.escape(name),
    );
    byTarget.set(target, statements);
  }
  return statements;
}

/** A where object's shape: its keys, which compare with NULL, and how many values each IN has. */
function whereShape(where: ObjectLiteral): string {
  return definedKeys(where)
    .map((key) => {
      const value: unknown = where[key];
      if (value === null) return `${key} null`;
      return Array.isArray(value) ? `${key} in ${value.length}` : key;
    })
    .join(',');
}

function definedKeys(values: ObjectLiteral): string[] {
  return Object.keys(values).filter((key) => values[key] !== undefined);
}

const statementNames = new Map<string, string>();

/** pg prepares a named statement once per connection; one name per SQL text. */
function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (!name) {
    name = `psi_${statementNames.size + 1}`;
    statementNames.set(sql, name);
  }
  return name;
}
