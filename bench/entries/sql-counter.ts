import * as sqlite3 from 'sqlite3';

/** Statements the sqlite3 driver executed, by leading keyword (BEGIN, INSERT, SAVEPOINT, ...). */
export type StatementCounts = Map<string, number>;

type DriverMethod = (this: sqlite3.Database, sql: string, ...rest: unknown[]) => unknown;

/**
 * Counts every statement that goes through `sqlite3.Database#run/#all/#get/#exec` (TypeORM's
 * sqlite driver uses `run` and `all`). The wrapper costs one Map update per statement, well
 * under 1 % of a statement's cost. Returns a function that removes the wrappers.
 */
export function countStatements(counts: StatementCounts): () => void {
  const proto = sqlite3.Database.prototype as unknown as Record<string, DriverMethod>;
  const originals = new Map<string, DriverMethod>();
  for (const method of ['run', 'all', 'get', 'exec']) {
    const original = proto[method];
    originals.set(method, original);
    proto[method] = function (this: sqlite3.Database, sql: string, ...rest: unknown[]) {
      const keyword = keywordOf(sql);
      counts.set(keyword, (counts.get(keyword) ?? 0) + 1);
      return original.call(this, sql, ...rest);
    };
  }
  return () => {
    for (const [method, original] of originals) proto[method] = original;
  };
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
