import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { attachDeferredInserts, type DeferredInserts } from './deferred-inserts';

/** A unit of work: database calls only, no waiting on engines or networks inside it. */
export type UnitOfWork<T> = (tx: EntityManager) => Promise<T>;

/** Runs units of work atomically. */
export interface TransactionRunner {
  run<T>(work: UnitOfWork<T>): Promise<T>;
}

/** PostgreSQL: every unit of work gets its own pooled connection and transaction. */
export class PooledTransactionRunner implements TransactionRunner {
  constructor(private readonly dataSource: DataSource) {}

  run<T>(work: UnitOfWork<T>): Promise<T> {
    return this.dataSource.transaction(async (tx) => {
      const deferred = attachDeferredInserts(tx);
      const value = await work(tx);
      await deferred.flush(tx);
      return value;
    });
  }
}

interface Pending {
  work: UnitOfWork<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * SQLite has one writer and TypeORM's sqlite driver one connection, so units of work are queued and
 * run one after another. Whatever queued up meanwhile is committed in one transaction (group
 * commit), which lifts throughput past one commit per step when many correlations run at once.
 *
 * A batch first runs optimistically: units back to back, no savepoints (two statements per unit
 * saved, a third of the hot path's statements). Units rarely fail; when one does, the batch is
 * rolled back and re-run with each unit in its own savepoint, so the failing unit rolls back alone
 * and the others commit. Units must therefore be safe to run twice (they only touch the database
 * and their own locals).
 */
export class GroupCommitTransactionRunner implements TransactionRunner {
  private readonly queue: Pending[] = [];
  private draining = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly maxBatchSize: number,
  ) {}

  run<T>(work: UnitOfWork<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        await gatherOneTurn();
        await this.runBatch(this.queue.splice(0, this.maxBatchSize));
      }
    } finally {
      this.draining = false;
    }
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    const runner = this.dataSource.createQueryRunner();
    // SQLite shares one query runner, and every createQueryRunner() (a dataSource.query() from
    // anywhere, say) gives it a new manager: the batch keeps the one it started with.
    const manager = runner.manager;
    const deferred = attachDeferredInserts(manager);
    try {
      await begin(runner);
      let outcomes = await runBackToBack(manager, deferred, batch);
      const failed = outcomes.find((outcome) => !outcome.ok);
      if (failed && batch.length > 1) {
        // The failed unit's half-done writes are in the transaction: roll the batch back and
        // run it again, isolating each unit in a savepoint.
        await rollback(runner);
        deferred.reset();
        await begin(runner);
        outcomes = await runInSavepoints(runner, manager, deferred, batch);
      }
      if (failed && batch.length === 1) {
        await rollback(runner);
      } else {
        await deferred.flush(manager);
        await commit(runner);
      }
      batch.forEach((pending, i) => settle(pending, outcomes[i]));
    } catch (error) {
      // BEGIN, COMMIT or a savepoint statement failed: nothing of the batch is committed.
      await rollback(runner).catch(() => undefined);
      batch.forEach((pending) => pending.reject(error));
    }
  }
}

/**
 * Waits one turn of the event loop before a batch is taken, so that it holds every unit queued
 * meanwhile. With a synchronous driver (better-sqlite3) a unit never yields, so without it every
 * batch would hold the one unit queued when it started. With any driver, the next unit of a flow
 * is usually queued within the turn its previous unit's commit resolved (a receive's check and its
 * park, a step's outbox mark and its completion, a wait state's release and a delivery's record),
 * so one correlation alone commits ~10 times instead of ~15 (measured at concurrency 1).
 */
export function gatherOneTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

// IMMEDIATE takes the write lock up front, so another process waits (busy_timeout) instead of
// failing on a read-to-write lock upgrade.
async function begin(runner: QueryRunner): Promise<void> {
  await runner.query('BEGIN IMMEDIATE');
  setTransactionActive(runner, true);
}

async function commit(runner: QueryRunner): Promise<void> {
  await runner.query('COMMIT');
  setTransactionActive(runner, false);
}

async function rollback(runner: QueryRunner): Promise<void> {
  setTransactionActive(runner, false);
  await runner.query('ROLLBACK');
}

function settle(pending: Pending, outcome: Outcome): void {
  if (outcome.ok) pending.resolve(outcome.value);
  else pending.reject(outcome.error);
}

/** Units back to back without savepoints, stopping at the first that fails. */
async function runBackToBack(
  manager: EntityManager,
  deferred: DeferredInserts,
  batch: Pending[],
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const pending of batch) {
    try {
      outcomes.push({ ok: true, value: await pending.work(manager) });
      deferred.unitSucceeded();
    } catch (error) {
      outcomes.push({ ok: false, error });
      break;
    }
  }
  return outcomes;
}

async function runInSavepoints(
  runner: QueryRunner,
  manager: EntityManager,
  deferred: DeferredInserts,
  batch: Pending[],
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const pending of batch) {
    // The rows deferred by the units before are written outside this unit's savepoint: a unit
    // that flushes them (to read its table) and then fails must not roll them back with its own.
    await deferred.flush(manager);
    const outcome = await runInSavepoint(runner, manager, pending.work);
    if (outcome.ok) deferred.unitSucceeded();
    else deferred.unitFailed();
    outcomes.push(outcome);
  }
  return outcomes;
}

async function runInSavepoint(
  runner: QueryRunner,
  manager: EntityManager,
  work: UnitOfWork<unknown>,
): Promise<Outcome> {
  await runner.query('SAVEPOINT psi_unit');
  try {
    const value = await work(manager);
    await runner.query('RELEASE SAVEPOINT psi_unit');
    return { ok: true, value };
  } catch (error) {
    await runner.query('ROLLBACK TO SAVEPOINT psi_unit');
    await runner.query('RELEASE SAVEPOINT psi_unit');
    return { ok: false, error };
  }
}

// TypeORM's save() opens its own transaction unless it sees one; we began it with raw SQL.
function setTransactionActive(runner: QueryRunner, active: boolean): void {
  (runner as { isTransactionActive: boolean }).isTransactionActive = active;
}
