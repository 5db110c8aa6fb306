import type { PsiStore } from '@psi/core';
import { waitUntil } from './fixtures';

/** An engine instance's state row, held by another connection (PostgreSQL). */
export interface HeldRow {
  /** A statement on the holding connection (read committed: it sees what others committed). */
  query<T = Record<string, unknown>>(sql: string, parameters?: unknown[]): Promise<T[]>;
  /** Resolves once some unit waits on the held row (its commit, say of the instance's state). */
  waitedOn(what: string): Promise<void>;
  /** Lets the waiting units go on. */
  release(): Promise<void>;
}

/**
 * Holds the instance's row with `FOR UPDATE` in a transaction on one of `observer`'s
 * connections: a unit that writes the instance's state waits until `release()`. The tests that
 * use it show what another node (or a node killed now) would see meanwhile. `observer` needs two
 * connections: `waitedOn` reads pg_stat_activity on the other one, since a transaction reads it
 * once and then keeps that snapshot.
 */
export async function holdInstanceRow(observer: PsiStore, instanceId: string): Promise<HeldRow> {
  const runner = observer.dataSource.createQueryRunner();
  await runner.startTransaction();
  await runner.query(`SELECT 1 FROM psi_engine_instance WHERE "instanceId" = $1 FOR UPDATE`, [
    instanceId,
  ]);
  const [{ pid }] = (await runner.query('SELECT pg_backend_pid() AS pid')) as Array<{
    pid: number;
  }>;
  let released = false;
  return {
    query: (sql, parameters) => runner.query(sql, parameters),
    waitedOn: async (what) => {
      await waitUntil(
        async () =>
          (
            (await observer.dataSource.query(
              'SELECT 1 FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
              [pid],
            )) as unknown[]
          ).length > 0,
        what,
      );
    },
    release: async () => {
      if (released) return;
      released = true;
      await runner.commitTransaction();
      await runner.release();
    },
  };
}
