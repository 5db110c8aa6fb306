import * as sqlite3 from 'sqlite3';
import { loadBetterSqlite3 } from './better-sqlite3';

/** Statements the sqlite3 driver executed, by leading keyword (BEGIN, INSERT, SAVEPOINT, ...). */
export type StatementCounts = Map<string, number>;

type DriverMethod = (this: sqlite3.Database, sql: string, ...rest: unknown[]) => unknown;

type StatementMethod = (this: sqlite3.Statement & { sql: string }, ...rest: unknown[]) => unknown;

/**
 * Counts every statement that goes through `sqlite3.Database#run/#all/#get/#exec`, and through
 * prepared `Statement#run/#all` (PsiStore's driver caches prepared statements), and through
 * better-sqlite3's `Statement#run/#all/#get` when it is installed. The wrapper costs
 * one Map update per statement, well under 1 % of a statement's cost. Returns a function that
 * removes the wrappers.
 */
export function countStatements(counts: StatementCounts): () => void {
  const count = (sql: string): void => {
    const keyword = keywordOf(sql);
    counts.set(keyword, (counts.get(keyword) ?? 0) + 1);
  };
  const database = sqlite3.Database.prototype as unknown as Record<string, DriverMethod>;
  const statement = sqlite3.Statement.prototype as unknown as Record<string, StatementMethod>;
  const restores: Array<() => void> = [];
  for (const method of ['run', 'all', 'get', 'exec']) {
    const original = database[method];
    restores.push(() => (database[method] = original));
    database[method] = function (this: sqlite3.Database, sql: string, ...rest: unknown[]) {
      count(sql);
      return original.call(this, sql, ...rest);
    };
  }
  for (const method of ['run', 'all']) {
    const original = statement[method];
    restores.push(() => (statement[method] = original));
    statement[method] = function (this: sqlite3.Statement & { sql: string }, ...rest: unknown[]) {
      count(this.sql);
      return original.apply(this, rest);
    };
  }
  restores.push(...countBetterSqlite3Statements(count));
  return () => restores.forEach((restore) => restore());
}

/** The same for better-sqlite3's statements, when it is installed; returns the restores. */
function countBetterSqlite3Statements(count: (sql: string) => void): Array<() => void> {
  const BetterSqlite3 = loadBetterSqlite3();
  if (!BetterSqlite3) return [];
  // Its Statement class is not exported: take the prototype of one statement.
  const probe = new BetterSqlite3(':memory:');
  const prototype = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<
    string,
    (this: { source: string }, ...rest: unknown[]) => unknown
  >;
  probe.close();
  return ['run', 'all', 'get'].map((method) => {
    const original = prototype[method];
    prototype[method] = function (this: { source: string }, ...rest: unknown[]) {
      count(this.source);
      return original.apply(this, rest);
    };
    return () => (prototype[method] = original);
  });
}

function keywordOf(sql: string): string {
  const match = /^\s*([A-Za-z]+)(?:\s+([A-Za-z]+))?/.exec(sql);
  if (!match) return '?';
  const first = match[1].toUpperCase();
  // "ROLLBACK TO SAVEPOINT" and "RELEASE SAVEPOINT" are savepoint traffic, not transactions.
  return first === 'ROLLBACK' && match[2]?.toUpperCase() === 'TO' ? 'ROLLBACK TO' : first;
}

/** "SELECT 5.0, INSERT 7.0, ..." per operation, largest first. */
export function formatPerOperation(counts: StatementCounts, operations: number): string {
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([keyword, n]) => `${keyword} ${(n / operations).toFixed(1)}`)
    .join(', ');
}

export function total(counts: StatementCounts): number {
  let sum = 0;
  for (const n of counts.values()) sum += n;
  return sum;
}
