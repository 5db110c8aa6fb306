import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as sqlite3 from 'sqlite3';
import { percentile, type BenchResult } from '../report';
import { loadBetterSqlite3 } from './better-sqlite3';
import { skippedRow } from './closed-loop';
import type { BenchContext, BenchEntry } from './entry';

/** Row names other entries use as their baseline. */
export const RAW_PAIR_C1 = 'sqlite3/pair c=1';
export const RAW_PAIR_BATCHED = 'sqlite3/pair batched';
export const RAW_BETTER_PAIR_C1 = 'better-sqlite3/pair c=1';
export const RAW_BETTER_PAIR_BATCHED = 'better-sqlite3/pair batched';

const BATCH_SIZE = 256;

/**
 * The raw sqlite3 driver on a fresh WAL file with PsiStore's default pragmas (synchronous = FULL,
 * its power-loss-safe default; the PSI row with `durability: 'normal'` is measured beside it):
 * insert + delete pairs, prepared statements, no ORM.
 * - `c=1`: one BEGIN IMMEDIATE … COMMIT per pair, the ceiling for "one transaction per step".
 * - `batched`: 256 pairs per transaction, the ceiling for group commit.
 * The same two rows through better-sqlite3 (synchronous, no worker thread), the baseline of the
 * PSI rows on that driver; a skipped row when it is not installed.
 * Keep it first in run.ts: opening a PsiStore lets TypeORM call `sqlite3.verbose()`, which slows
 * every later sqlite3 call in the process (long stack traces), baseline included.
 */
export const sqliteBaseline: BenchEntry = {
  name: 'sqlite-baseline',
  description: 'raw sqlite3 insert+delete pairs (WAL): one transaction per pair, and batched',
  run: async (context) => {
    const c1 = context.quick ? 2_000 : 20_000;
    const batched = context.quick ? 20_000 : 200_000;
    const rows = [
      await measureSqlite3Pairs(context, 'c1', c1, 1),
      await measureSqlite3Pairs(context, 'batched', batched, BATCH_SIZE),
    ];
    if (!loadBetterSqlite3()) {
      return [
        ...rows,
        skippedRow(RAW_BETTER_PAIR_C1, 'better-sqlite3 is not installed (optional)'),
      ];
    }
    return [
      ...rows,
      await measureBetterSqlite3Pairs(context, 'c1', c1, 1),
      await measureBetterSqlite3Pairs(context, 'batched', batched, BATCH_SIZE),
    ];
  },
};

const CREATE_PAIR_TABLE =
  'CREATE TABLE pair (id TEXT PRIMARY KEY NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL)';
const INSERT_PAIR = 'INSERT INTO pair (id, payload, created_at) VALUES (?, ?, ?)';
const DELETE_PAIR = 'DELETE FROM pair WHERE id = ?';
const PAYLOAD = JSON.stringify({ event: 'pong', answer: 'x'.repeat(64) });

/** One transaction of `count` pairs from pair number `first`. */
type PairTransaction = (first: number, count: number) => Promise<void> | void;

/** Runs `pairs` pairs, `perTransaction` to a transaction, after a warm-up; one row. */
async function timePairs(
  driver: 'sqlite3' | 'better-sqlite3',
  pairs: number,
  perTransaction: number,
  transaction: PairTransaction,
): Promise<BenchResult> {
  await transaction(0, Math.min(pairs / 10, 1_000)); // warm-up
  const latencies: number[] = [];
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let first = 0; first < pairs; first += perTransaction) {
    const t0 = performance.now();
    await transaction(first, Math.min(perTransaction, pairs - first));
    latencies.push(performance.now() - t0);
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const single = perTransaction === 1;
  const better = driver === 'better-sqlite3';
  const names = better
    ? [RAW_BETTER_PAIR_C1, RAW_BETTER_PAIR_BATCHED]
    : [RAW_PAIR_C1, RAW_PAIR_BATCHED];
  return {
    name: single ? names[0] : names[1],
    operations: pairs,
    unit: 'pair',
    seconds,
    p50Ms: single ? percentile(latencies, 50) : undefined,
    p99Ms: single ? percentile(latencies, 99) : undefined,
    cpuMicros: cpu.user + cpu.system,
    // sqlite3's batched row against its c=1 row; better-sqlite3's rows against sqlite3's.
    baseline: better ? (single ? RAW_PAIR_C1 : RAW_PAIR_BATCHED) : single ? undefined : RAW_PAIR_C1,
    note:
      (better ? 'better-sqlite3, synchronous; ' : '') +
      (single
        ? '4 driver calls/pair (BEGIN, INSERT, DELETE, COMMIT)'
        : `${perTransaction} pairs/transaction; p50 per transaction ${percentile(latencies, 50)?.toFixed(1)} ms`),
  };
}

async function measureSqlite3Pairs(
  context: BenchContext,
  label: 'c1' | 'batched',
  pairs: number,
  perTransaction: number,
): Promise<BenchResult> {
  const db = await open(path.join(context.tmpDir, `raw-${label}.sqlite`));
  try {
    for (const pragma of [
      'PRAGMA journal_mode = WAL',
      'PRAGMA synchronous = FULL',
      'PRAGMA busy_timeout = 15000',
    ]) {
      await all(db, pragma);
    }
    await exec(db, CREATE_PAIR_TABLE);
    const insert = db.prepare(INSERT_PAIR);
    const remove = db.prepare(DELETE_PAIR);
    try {
      return await timePairs('sqlite3', pairs, perTransaction, async (first, count) => {
        await exec(db, 'BEGIN IMMEDIATE');
        for (let i = first; i < first + count; i++) {
          await statement(insert, [`pair-${i}`, PAYLOAD, Date.now()]);
          await statement(remove, [`pair-${i}`]);
        }
        await exec(db, 'COMMIT');
      });
    } finally {
      await finalize(insert);
      await finalize(remove);
    }
  } finally {
    await close(db);
  }
}

/** The same through better-sqlite3: synchronous, no worker thread. */
async function measureBetterSqlite3Pairs(
  context: BenchContext,
  label: 'c1' | 'batched',
  pairs: number,
  perTransaction: number,
): Promise<BenchResult> {
  const BetterSqlite3 = loadBetterSqlite3();
  if (!BetterSqlite3) throw new Error('better-sqlite3 is not installed');
  const db = new BetterSqlite3(path.join(context.tmpDir, `raw-better-${label}.sqlite`));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(CREATE_PAIR_TABLE);
    const begin = db.prepare('BEGIN IMMEDIATE');
    const commit = db.prepare('COMMIT');
    const insert = db.prepare(INSERT_PAIR);
    const remove = db.prepare(DELETE_PAIR);
    return await timePairs('better-sqlite3', pairs, perTransaction, (first, count) => {
      begin.run();
      for (let i = first; i < first + count; i++) {
        insert.run(`pair-${i}`, PAYLOAD, Date.now());
        remove.run(`pair-${i}`);
      }
      commit.run();
    });
  } finally {
    db.close();
  }
}

function open(file: string): Promise<sqlite3.Database> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, (error) => (error ? reject(error) : resolve(db)));
  });
}

function exec(db: sqlite3.Database, sql: string): Promise<void> {
  return new Promise((resolve, reject) =>
    db.exec(sql, (error) => (error ? reject(error) : resolve())),
  );
}

function all(db: sqlite3.Database, sql: string): Promise<unknown[]> {
  return new Promise((resolve, reject) =>
    db.all(sql, (error: Error | null, rows: unknown[]) => (error ? reject(error) : resolve(rows))),
  );
}

function statement(stmt: sqlite3.Statement, params: unknown[]): Promise<void> {
  return new Promise((resolve, reject) =>
    stmt.run(params, (error: Error | null) => (error ? reject(error) : resolve())),
  );
}

function finalize(stmt: sqlite3.Statement): Promise<void> {
  return new Promise((resolve) => stmt.finalize(() => resolve()));
}

function close(db: sqlite3.Database): Promise<void> {
  return new Promise((resolve, reject) => db.close((error) => (error ? reject(error) : resolve())));
}
