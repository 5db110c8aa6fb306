import * as sqlite3 from 'sqlite3';
import type { DataSource } from 'typeorm';

type Callback = (this: sqlite3.RunResult, error: Error | null, rows?: unknown[]) => void;

/** How many distinct SQL texts keep a prepared statement; the least recently used is finalized. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * A sqlite3 `Database` that keeps prepared statements. node-sqlite3 runs `db.run(sql)` /
 * `db.all(sql)` as prepare + step + finalize, three trips through libuv's thread pool; a cached
 * statement needs one. PSI's hot path repeats a few dozen SQL texts, so this cuts the latency of
 * every statement by ~2.5× (measured in bench/). Results are the same: `this.lastID` and
 * `this.changes` are set on the statement the callback is called on, as TypeORM expects.
 */
export class CachingDatabase extends sqlite3.Database {
  private readonly statements = new Map<string, CachedStatement>();

  override run(sql: string, ...rest: unknown[]): this {
    return this.cached('run', sql, rest);
  }

  override all(sql: string, ...rest: unknown[]): this {
    return this.cached('all', sql, rest);
  }

  override close(callback?: (error: Error | null) => void): void {
    // A database with unfinalized statements refuses to close.
    const pending = [...this.statements.values()];
    this.statements.clear();
    let left = pending.length;
    if (left === 0) return super.close(callback);
    for (const cached of pending) {
      cached.statement.finalize(() => {
        if (--left === 0) super.close(callback);
      });
    }
  }

  private cached(method: 'run' | 'all', sql: string, rest: unknown[]): this {
    const callback = typeof rest[rest.length - 1] === 'function' ? (rest.pop() as Callback) : null;
    const params = rest.length === 1 && Array.isArray(rest[0]) ? (rest[0] as unknown[]) : rest;
    const cached = this.statementFor(sql);
    const done: Callback = function (this: sqlite3.RunResult, error, rows) {
      callback?.call(this, error, rows);
    };
    // node-sqlite3 silently drops calls queued on a statement whose prepare failed: remember
    // them so the prepare error reaches each caller.
    cached.awaitingPrepare?.push(done);
    cached.statement[method](
      params,
      function (this: sqlite3.RunResult, error: Error | null, rows?: unknown) {
        cached.awaitingPrepare?.splice(cached.awaitingPrepare.indexOf(done), 1);
        done.call(this, error, rows as unknown[] | undefined);
      },
    );
    return this;
  }

  private statementFor(sql: string): CachedStatement {
    const found = this.statements.get(sql);
    if (found) {
      // A Map keeps insertion order: re-inserting marks it the most recently used.
      this.statements.delete(sql);
      this.statements.set(sql, found);
      return found;
    }
    const cached: CachedStatement = {
      awaitingPrepare: [],
      statement: this.prepare(sql, (error: Error | null) => {
        const waiting = cached.awaitingPrepare ?? [];
        cached.awaitingPrepare = undefined;
        if (!error) return;
        if (this.statements.get(sql) === cached) this.statements.delete(sql);
        for (const callback of waiting) callback.call(FAILED_RESULT, error);
      }),
    };
    cached.statement.on('error', () => undefined); // reported through the callbacks above
    this.statements.set(sql, cached);
    if (this.statements.size > STATEMENT_CACHE_SIZE) {
      const [oldestSql, oldest] = this.statements.entries().next().value as [
        string,
        CachedStatement,
      ];
      this.statements.delete(oldestSql);
      oldest.statement.finalize(); // queued calls still run first
    }
    return cached;
  }
}

interface CachedStatement {
  statement: sqlite3.Statement;
  /** Callbacks of calls queued while the statement is being prepared; undefined once prepared. */
  awaitingPrepare: Callback[] | undefined;
}

const FAILED_RESULT = { lastID: 0, changes: 0 } as sqlite3.RunResult;

/**
 * The sqlite3 module as TypeORM's driver: statement-caching databases, and no verbose mode
 * (TypeORM calls `driver.verbose()`, which makes every sqlite3 call in the process capture a
 * stack trace, ~11% of CPU in bench/).
 */
export function sqliteDriver(): object {
  const driver = { ...sqlite3, Database: CachingDatabase };
  return { ...driver, verbose: () => driver };
}

type EscapeQuery = (
  sql: string,
  parameters: Record<string, unknown>,
  nativeParameters: Record<string, unknown>,
) => [string, unknown[]];

/** A number on its way through TypeORM's escaping, so it is bound instead of inlined. */
class BoundNumber {
  constructor(readonly value: number) {}
}

/**
 * TypeORM's SQLite driver writes number parameters into the SQL text, so every timestamp makes
 * a new statement and defeats the statement cache. This binds them as parameters instead; SQLite
 * compares and stores them the same way.
 */
export function bindNumberParameters(dataSource: DataSource): void {
  const driver = dataSource.driver as unknown as { escapeQueryWithParameters: EscapeQuery };
  const escape = driver.escapeQueryWithParameters.bind(driver);
  driver.escapeQueryWithParameters = (sql, parameters, nativeParameters) => {
    const boxed: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(parameters ?? {})) {
      boxed[key] = typeof value === 'number' ? new BoundNumber(value) : value;
    }
    const [query, bound] = escape(sql, boxed, nativeParameters);
    return [query, bound.map((value) => (value instanceof BoundNumber ? value.value : value))];
  };
}
