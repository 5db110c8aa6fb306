import type { ObjectLiteral } from 'typeorm';

/** What a statement returned: its rows, the rows it changed, SQLite's last inserted rowid. */
export interface RawResult {
  rows: ObjectLiteral[];
  affected: number;
  lastId?: number;
}

/** A compiled statement: its SQL and the name PostgreSQL prepares it under. */
export interface StatementText {
  sql: string;
  name: string;
}

/**
 * Runs one statement on a transaction's own driver connection (what TypeORM's query runner
 * `connect()` returns): `rows` for statements that read, `count` for statements that write.
 */
export type RowExecutor = (
  connection: unknown,
  statement: StatementText,
  want: 'rows' | 'count',
  values: unknown[],
) => Promise<RawResult> | RawResult;

/** The executor for a TypeORM data source type; row statements support these three. */
export function rowExecutorFor(type: string): RowExecutor {
  switch (type) {
    case 'sqlite':
      return runOnSqlite3;
    case 'better-sqlite3':
      return runOnBetterSqlite3;
    case 'postgres':
      return runOnPostgres;
    default:
      throw new Error(`row statements support sqlite, better-sqlite3 and postgres, not ${type}`);
  }
}

interface PostgresClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{
    rows: ObjectLiteral[];
    rowCount: number | null;
  }>;
}

/** node-postgres: a named statement is parsed once per connection, then only bound. */
async function runOnPostgres(
  connection: unknown,
  { sql, name }: StatementText,
  _want: 'rows' | 'count',
  values: unknown[],
): Promise<RawResult> {
  const result = await (connection as PostgresClient).query({ name, text: sql, values });
  return { rows: result.rows, affected: result.rowCount ?? 0 };
}

interface Sqlite3Database {
  all(
    sql: string,
    params: unknown[],
    callback: (error: Error | null, rows: ObjectLiteral[]) => void,
  ): unknown;
  run(
    sql: string,
    params: unknown[],
    callback: (this: { changes: number; lastID: number }, error: Error | null) => void,
  ): unknown;
}

/** sqlite3: PSI's CachingDatabase keeps the prepared statement (see sqlite-driver.ts). */
function runOnSqlite3(
  connection: unknown,
  { sql }: StatementText,
  want: 'rows' | 'count',
  values: unknown[],
): Promise<RawResult> {
  const database = connection as Sqlite3Database;
  return new Promise((resolve, reject) => {
    if (want === 'rows') {
      database.all(sql, values, (error, rows) =>
        error ? reject(error) : resolve({ rows, affected: rows.length }),
      );
    } else {
      database.run(sql, values, function (error) {
        if (error) reject(error);
        else resolve({ rows: [], affected: this.changes, lastId: this.lastID });
      });
    }
  });
}

interface BetterSqlite3Statement {
  reader: boolean;
  all(...params: unknown[]): ObjectLiteral[];
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
}

interface BetterSqlite3Database {
  prepare(sql: string): BetterSqlite3Statement;
}

/** How many distinct SQL texts keep a prepared statement per better-sqlite3 database. */
const BETTER_SQLITE3_CACHE_SIZE = 256;

const preparedByDatabase = new WeakMap<object, Map<string, BetterSqlite3Statement>>();

/** better-sqlite3: synchronous, no worker thread; prepared statements kept per database. */
function runOnBetterSqlite3(
  connection: unknown,
  { sql }: StatementText,
  want: 'rows' | 'count',
  values: unknown[],
): RawResult {
  const database = connection as BetterSqlite3Database;
  let prepared = preparedByDatabase.get(database);
  if (!prepared) {
    prepared = new Map();
    preparedByDatabase.set(database, prepared);
  }
  let statement = prepared.get(sql);
  if (!statement) {
    statement = database.prepare(sql);
    if (prepared.size >= BETTER_SQLITE3_CACHE_SIZE) {
      prepared.delete(prepared.keys().next().value as string); // finalized by the GC
    }
    prepared.set(sql, statement);
  }
  if (want === 'rows' || statement.reader) {
    const rows = statement.all(...values);
    return { rows, affected: rows.length };
  }
  const result = statement.run(...values);
  return { rows: [], affected: result.changes, lastId: Number(result.lastInsertRowid) };
}
