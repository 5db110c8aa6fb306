/** The parts of better-sqlite3 the bench uses (the package ships no types of its own). */
export interface BetterSqlite3Statement {
  source: string;
  run(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

export interface BetterSqlite3Database {
  pragma(source: string): unknown;
  exec(source: string): unknown;
  prepare(source: string): BetterSqlite3Statement;
  close(): unknown;
}

export type BetterSqlite3Constructor = new (file: string) => BetterSqlite3Database;

/** better-sqlite3, or undefined when it is not installed (it is an optional dependency). */
export function loadBetterSqlite3(): BetterSqlite3Constructor | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('better-sqlite3') as BetterSqlite3Constructor;
  } catch {
    return undefined;
  }
}
