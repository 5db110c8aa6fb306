import type { DataSource, EntityManager, QueryRunner } from 'typeorm';

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
    return this.dataSource.transaction((tx) => work(tx));
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
 * commit), each unit inside its own savepoint so a failing unit rolls back alone. This is what
 * lifts throughput past one fsync per step when many correlations run concurrently.
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
        await this.runBatch(this.queue.splice(0, this.maxBatchSize));
      }
    } finally {
      this.draining = false;
    }
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    const runner = this.dataSource.createQueryRunner();
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      // IMMEDIATE takes the write lock up front, so another process waits (busy_timeout)
      // instead of failing on a read-to-write lock upgrade.
      await runner.query('BEGIN IMMEDIATE');
      setTransactionActive(runner, true);
      for (const pending of batch) outcomes.push(await runInSavepoint(runner, pending.work));
      await runner.query('COMMIT');
    } catch (error) {
      await runner.query('ROLLBACK').catch(() => undefined);
      batch.forEach((pending) => pending.reject(error));
      return;
    } finally {
      setTransactionActive(runner, false);
    }
    batch.forEach((pending, i) => {
      const outcome = outcomes[i];
      if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    });
  }
}

async function runInSavepoint(
  runner: QueryRunner,
  work: UnitOfWork<unknown>,
): Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }> {
  await runner.query('SAVEPOINT psi_unit');
  try {
    const value = await work(runner.manager);
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
