import { performance } from 'node:perf_hooks';
import type { DataSource, QueryRunner } from 'typeorm';
import { isConnectionError } from './connection-retry';
import { attachDeferredInserts } from './deferred-inserts';
import { gatherOneTurn, type TransactionRunner, type UnitOfWork } from './transaction-runner';

interface Pending {
  work: UnitOfWork<unknown>;
  /** When it was queued (performance.now()). */
  queuedAt: number;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type BatchOutcome =
  | { kind: 'committed'; values: unknown[] }
  /** The one unit of a batch failed with its own error: that is its outcome. */
  | { kind: 'unit-failed'; error: unknown }
  /** Nothing of the batch is committed; every unit may run again. */
  | { kind: 'rolled-back' }
  /** Every unit fails with this: COMMIT failed (outcome unknown), or the connection was lost. */
  | { kind: 'all-failed'; error: unknown };

const NO_ERROR = Symbol('no unit error');

/**
 * How often a unit re-run alone may lose a deadlock before its error is its outcome. The other
 * lanes' batches still hold locks in an order of their own, so one re-run may lose again; each
 * loss rolled the unit back, so running it again is safe.
 */
const DEADLOCK_ATTEMPTS = 5;

/**
 * How long a unit may wait before a further lane opens for it whatever the backlog: the running
 * lanes may be waiting on a lock (another node's batch, a long transaction outside PSI), and the
 * units behind them must not wait as long. A batch normally takes a few milliseconds.
 */
const LANE_WAIT_MS = 20;

/**
 * How many lanes may run, and how many waiting units open one beyond the first (a unit that has
 * waited {@link LANE_WAIT_MS} opens one too).
 */
export interface LanePolicy {
  lanes: number;
  laneBacklog: number;
}

/**
 * PostgreSQL group commit: units of work queue up, and each of up to `lanes` pooled connections
 * takes whatever has queued and runs it as one transaction (units back to back, one START and one
 * COMMIT). A correlation's ~14 units then cost far fewer round trips and commits than with one
 * transaction each, which both the node (a socket write per statement) and the server pay for.
 * One lane always runs; another opens only while `laneBacklog` units wait or once a unit has
 * waited {@link LANE_WAIT_MS}, because lanes opened for every waiting unit split the queue into
 * small transactions (measured: ~5 transactions and ~41 statements per correlation with 4 eager
 * lanes at c=64, ~1 and ~30 with a backlog of 32).
 *
 * Units hold their row and advisory locks until their batch commits, so two lanes (or nodes) can
 * now deadlock where single units would only have waited; PostgreSQL then aborts one of them.
 * Whenever a batch of several units fails before COMMIT (a unit's error, a deadlock, a lost
 * connection), it is rolled back and every unit runs again alone through `single` (one
 * transaction each, with its connection retries): the failing unit fails alone, the others
 * commit; one that loses a deadlock again runs again (up to {@link DEADLOCK_ATTEMPTS} times).
 * With connection retries off, a lost connection fails every unit of its batch, as it would have
 * failed each of them alone. Units must therefore be safe to run twice (they only touch the
 * database and their own locals), as for the SQLite runner.
 */
export class PostgresGroupCommitRunner implements TransactionRunner {
  private readonly queue: Pending[] = [];
  private activeLanes = 0;
  /** Opens a lane for the oldest waiting unit once it has waited LANE_WAIT_MS. */
  private waitTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly policy: LanePolicy,
    private readonly maxBatchSize: number,
    /** Runs one unit in its own transaction: for re-runs after a failed batch. */
    private readonly single: TransactionRunner,
    /** Whether units whose connection was lost run again (`connectionRetryMs` > 0). */
    private readonly retryLostConnections: boolean,
  ) {}

  run<T>(work: UnitOfWork<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        work,
        queuedAt: performance.now(),
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      if (this.needsAnotherLane()) void this.drainLane();
      else this.watchWaitingUnits();
    });
  }

  private needsAnotherLane(): boolean {
    if (this.activeLanes === 0) return true;
    const { lanes, laneBacklog } = this.policy;
    return this.activeLanes < lanes && this.queue.length >= laneBacklog;
  }

  private watchWaitingUnits(): void {
    if (this.waitTimer || this.activeLanes >= this.policy.lanes) return;
    const oldest = this.queue[0];
    if (!oldest) return;
    const waited = performance.now() - oldest.queuedAt;
    this.waitTimer = setTimeout(
      () => {
        this.waitTimer = undefined;
        const first = this.queue[0];
        if (!first || this.activeLanes >= this.policy.lanes) return;
        if (performance.now() - first.queuedAt >= LANE_WAIT_MS) void this.drainLane();
        else this.watchWaitingUnits();
      },
      Math.max(0, LANE_WAIT_MS - waited),
    );
    // Pending units keep their callers waiting; the timer alone must not keep a process alive.
    this.waitTimer.unref();
  }

  private async drainLane(): Promise<void> {
    this.activeLanes++;
    try {
      while (this.queue.length > 0) {
        // The lane takes what waits now, then, for one turn, what joins it (see gatherOneTurn):
        // a lane opened meanwhile for the backlog takes the units queued after these.
        const batch = this.queue.splice(0, this.maxBatchSize);
        await gatherOneTurn();
        batch.push(...this.queue.splice(0, this.maxBatchSize - batch.length));
        this.settle(batch, await this.runBatch(batch));
      }
    } finally {
      this.activeLanes--;
    }
  }

  private settle(batch: Pending[], outcome: BatchOutcome): void {
    switch (outcome.kind) {
      case 'committed':
        batch.forEach((pending, i) => pending.resolve(outcome.values[i]));
        return;
      case 'unit-failed':
        batch[0].reject(outcome.error);
        return;
      case 'all-failed':
        batch.forEach((pending) => pending.reject(outcome.error));
        return;
      case 'rolled-back':
        // Not awaited: the lane goes on with the queue while these get connections of their own.
        for (const pending of batch) {
          this.runAlone(pending.work).then(pending.resolve, pending.reject);
        }
    }
  }

  /** Runs a unit in a transaction of its own, again while it is chosen as a deadlock victim. */
  private async runAlone(work: UnitOfWork<unknown>): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.single.run(work);
      } catch (error) {
        if (!isDeadlock(error) || attempt >= DEADLOCK_ATTEMPTS) throw error;
      }
    }
  }

  private async runBatch(batch: Pending[]): Promise<BatchOutcome> {
    let runner: QueryRunner | undefined;
    let unitError: unknown = NO_ERROR;
    try {
      runner = this.dataSource.createQueryRunner();
      await runner.startTransaction();
      const deferred = attachDeferredInserts(runner.manager);
      const values: unknown[] = [];
      for (const pending of batch) {
        try {
          values.push(await pending.work(runner.manager));
        } catch (error) {
          unitError = error;
          throw error;
        }
        deferred.unitSucceeded();
      }
      await deferred.flush(runner.manager);
      try {
        await runner.commitTransaction();
      } catch (error) {
        return { kind: 'all-failed', error };
      }
      return { kind: 'committed', values };
    } catch (error) {
      if (runner?.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      if (isConnectionError(error) && !this.retryLostConnections) {
        return { kind: 'all-failed', error };
      }
      // The error of a unit that ran alone is its outcome, unless the connection was lost
      // (`single` retries that on a fresh connection) or the unit lost a deadlock, which the
      // batch of another lane may have caused.
      const ownError =
        batch.length === 1 &&
        error === unitError &&
        !isConnectionError(error) &&
        !isDeadlock(error);
      return ownError ? { kind: 'unit-failed', error } : { kind: 'rolled-back' };
    } finally {
      await runner?.release().catch(() => undefined);
    }
  }
}

/** PostgreSQL chose this transaction as a deadlock's victim (SQLSTATE 40P01). */
function isDeadlock(error: unknown): boolean {
  const { code, driverError } = (error ?? {}) as {
    code?: unknown;
    driverError?: { code?: unknown };
  };
  return code === '40P01' || driverError?.code === '40P01';
}
