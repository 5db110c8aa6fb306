import { randomBytes } from 'node:crypto';
import type { QueryRunner } from 'typeorm';
import { PsiStore } from '../store/psi-store';
import { completeWaitingIfSettled, markCalled } from './invocations';

const POSTGRES_URL =
  process.env.PSI_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

// The invoker marks an invocation called (waiting while an expectation is open) in one unit; an
// answer or a timeout settles the expectation and completes the invocation if it waits in
// another. On PostgreSQL both can run at once on two connections: each must see the other's
// outcome, or the invocation stays `waiting` beside a settled expectation (the soak's "open
// invocations on ended instances"). SQLite has one writer: the two never overlap there.
describe('an invocation marked called while its expectation is settled (PostgreSQL)', () => {
  let store: PsiStore;
  const schema = `psi_called_${process.pid}_${randomBytes(4).toString('hex')}`;
  let n = 0;

  beforeAll(async () => {
    store = await PsiStore.open({ url: POSTGRES_URL, schema, poolSize: 8 });
  });
  afterAll(async () => {
    await store.dataSource.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await store.close();
  });

  async function running(): Promise<string> {
    const id = `inv-${++n}`;
    await store.dataSource.query(
      `INSERT INTO psi_invocation (id, "instanceId", "activationId", step, adapter, service, "correlationKey", status, "createdAt", "updatedAt", "leaseOwner")
       VALUES ($1, $1, 'a', 's', 'ad', 'svc', $1, 'running', 1, 1, 'node')`,
      [id],
    );
    await store.dataSource.query(
      `INSERT INTO psi_expectation (id, "invocationId", "instanceId", adapter, event, "waitState", "timeoutPending", status, "createdAt", repeats)
       VALUES ($1, $1, $1, 'ad', 'ev', 'w', false, 'open', 1, false)`,
      [id],
    );
    return id;
  }

  async function statusOf(id: string): Promise<string> {
    const [row] = await store.dataSource.query(`SELECT status FROM psi_invocation WHERE id = $1`, [
      id,
    ]);
    return (row as { status: string }).status;
  }

  async function transactions<T>(work: (a: QueryRunner, b: QueryRunner) => Promise<T>) {
    const a = store.dataSource.createQueryRunner();
    const b = store.dataSource.createQueryRunner();
    try {
      await a.startTransaction();
      await b.startTransaction();
      return await work(a, b);
    } finally {
      for (const tx of [a, b]) {
        if (tx.isTransactionActive) await tx.rollbackTransaction().catch(() => undefined);
        await tx.release();
      }
    }
  }

  async function backendPid(tx: QueryRunner): Promise<number> {
    const [row] = (await tx.query('SELECT pg_backend_pid() AS pid')) as Array<{ pid: number }>;
    return row.pid;
  }

  /** Until `statement` resolved or the connection of `tx` waits for a lock. */
  async function doneOrWaitingForLock(statement: Promise<unknown>, pid: number) {
    let done = false;
    void statement.then(
      () => (done = true),
      () => (done = true),
    );
    for (let i = 0; i < 500 && !done; i++) {
      const rows = (await store.dataSource.query(
        `SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`,
        [pid],
      )) as unknown[];
      if (rows.length > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  const settle = (tx: QueryRunner, id: string) =>
    tx.query(`UPDATE psi_expectation SET status = 'delivered' WHERE id = $1`, [id]);

  it('the answer settles first: marking it called waits for that commit and completes it', async () => {
    const id = await running();
    await transactions(async (delivery, invoker) => {
      await settle(delivery, id);
      const pid = await backendPid(invoker);
      const called = markCalled(invoker.manager, id, 2, 'node');
      await doneOrWaitingForLock(called, pid);
      // Still running for the delivery: its completion finds nothing to complete.
      await completeWaitingIfSettled(delivery.manager, id, 2);
      await delivery.commitTransaction();
      expect(await called).toEqual({ status: 'completed', open: 0 });
      await invoker.commitTransaction();
    });
    expect(await statusOf(id)).toBe('completed');
  });

  // The other order (passed before too): the lock taken by marking it called must not hide it.
  it('marked called first: the answer waits for that commit and completes it', async () => {
    const id = await running();
    await transactions(async (delivery, invoker) => {
      expect(await markCalled(invoker.manager, id, 2, 'node')).toEqual({
        status: 'waiting',
        open: 1,
      });
      const settling = settle(delivery, id);
      await invoker.commitTransaction();
      await settling;
      await completeWaitingIfSettled(delivery.manager, id, 2);
      await delivery.commitTransaction();
    });
    expect(await statusOf(id)).toBe('completed');
  });

  // A node whose lease lapsed while it ran (another node took the invocation over) must not
  // record its outcome: the taking node's run does.
  it('writes nothing for a node that no longer holds the lease', async () => {
    const id = await running();
    await store.dataSource.query(`UPDATE psi_invocation SET "leaseOwner" = 'other' WHERE id = $1`, [
      id,
    ]);
    expect(await markCalled(store.dataSource.manager, id, 2, 'node')).toBeUndefined();
    expect(await statusOf(id)).toBe('running');
    expect(await markCalled(store.dataSource.manager, id, 2, 'other')).toEqual({
      status: 'waiting',
      open: 1,
    });
  });
});
