import type { EntityManager } from 'typeorm';
import { ConnectionRetryRunner, isConnectionError } from './connection-retry';
import { ExpectationEntity } from './entities/expectation.entity';
import { PsiStore } from './psi-store';
import type { TransactionRunner, UnitOfWork } from './transaction-runner';

const POSTGRES_URL =
  process.env.PSI_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A runner whose next runs fail as scripted: before the work, or after it (at commit). */
class ScriptedRunner implements TransactionRunner {
  runs = 0;
  constructor(private readonly script: Array<{ at: 'connect' | 'commit'; error: unknown }>) {}
  async run<T>(work: UnitOfWork<T>): Promise<T> {
    const step = this.script[this.runs++];
    if (step?.at === 'connect') throw step.error;
    const value = await work({} as EntityManager);
    if (step?.at === 'commit') throw step.error;
    return value;
  }
}

const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

describe(ConnectionRetryRunner, () => {
  it('runs a unit again when its connection broke before the commit', async () => {
    const inner = new ScriptedRunner([
      { at: 'connect', error: reset },
      { at: 'connect', error: { driverError: { code: '57P01' }, message: 'query failed' } },
    ]);
    const retries: number[] = [];
    const runner = new ConnectionRetryRunner(inner, 5_000, (_e, attempt) => retries.push(attempt));
    let ran = 0;
    expect(await runner.run(async () => ++ran)).toBe(1);
    expect(inner.runs).toBe(3);
    expect(retries).toEqual([1, 2]);
  });

  it('does not retry a loss at commit (outcome unknown), other errors, or past its budget', async () => {
    await expect(
      new ConnectionRetryRunner(new ScriptedRunner([{ at: 'commit', error: reset }]), 5_000).run(
        async () => 1,
      ),
    ).rejects.toBe(reset);
    const constraint = Object.assign(new Error('duplicate key'), { code: '23505' });
    await expect(
      new ConnectionRetryRunner(
        new ScriptedRunner([{ at: 'connect', error: constraint }]),
        5_000,
      ).run(async () => 1),
    ).rejects.toBe(constraint);
    await expect(
      new ConnectionRetryRunner(new ScriptedRunner([{ at: 'connect', error: reset }]), 0).run(
        async () => 1,
      ),
    ).rejects.toBe(reset);
  });

  it('recognises connection errors by SQLSTATE, errno and node-postgres messages', () => {
    expect(isConnectionError({ code: '08006' })).toBe(true);
    expect(isConnectionError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isConnectionError({ driverError: { code: 'ECONNREFUSED' } })).toBe(true);
    expect(
      isConnectionError(new Error('Query runner already released. Cannot run queries anymore.')),
    ).toBe(true);
    expect(
      isConnectionError(
        new Error('Database connection provided by a query runner was already released, …'),
      ),
    ).toBe(true);
    expect(isConnectionError({ code: '40001' })).toBe(false);
    expect(isConnectionError(new Error('boom'))).toBe(false);
  });
});

describe('PostgreSQL connections', () => {
  const schema = `psi_conn_${process.pid}`;
  const stores: PsiStore[] = [];
  afterAll(async () => {
    for (const store of stores) await store.close();
    const admin = await PsiStore.open({ url: POSTGRES_URL, migrate: false, poolSize: 1 });
    await admin.dataSource.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.close();
  });
  async function open(options: { poolSize?: number; connectionRetryMs?: number } = {}) {
    const store = await PsiStore.open({ url: POSTGRES_URL, schema, ...options });
    stores.push(store);
    return store;
  }
  const expectation = (id: string): ExpectationEntity =>
    Object.assign(new ExpectationEntity(), {
      id,
      invocationId: 'inv',
      instanceId: 'i1',
      adapter: 'A',
      event: 'confirmed',
      waitState: 'w',
      correlationKey: id,
      businessKey: null,
      groupId: null,
      deadline: null,
      timeoutTransition: null,
      timeoutPending: false,
      parkingTtlMs: null,
      status: 'open',
      createdAt: Date.now(),
      closedAt: null,
      claimedBy: null,
      claimExpiresAt: null,
      claimedMessage: null,
      activationId: null,
      repeats: false,
    });
  /** Claims `id`, and on the first `kills` attempts loses the connection right after. */
  const claimAndDie = (store: PsiStore, id: string, attempts: { n: number }, kills: number) =>
    store.transaction(async (tx) => {
      const claimed = await tx.update(
        ExpectationEntity,
        { id, status: 'open' },
        {
          status: 'claimed',
        },
      );
      if (++attempts.n <= kills) await tx.query('SELECT pg_terminate_backend(pg_backend_pid())');
      return claimed.affected;
    });

  it('uses the configured pool size', async () => {
    const store = await open({ poolSize: 3 });
    const pool = (store.dataSource.driver as unknown as { master: { options: { max: number } } })
      .master;
    expect(pool.options.max).toBe(3);
  });

  it('a unit that loses its connection mid-claim leaves nothing behind, and is retried on a fresh connection', async () => {
    const store = await open({ poolSize: 2 });
    await store.transaction((tx) =>
      tx.insert(ExpectationEntity, [expectation('x'), expectation('y')]),
    );

    // Without retries the caller sees the error; the claim died with the connection.
    const once = await open({ poolSize: 2, connectionRetryMs: 0 });
    await expect(claimAndDie(once, 'x', { n: 0 }, 1)).rejects.toMatchObject({
      message: expect.stringMatching(/terminat/i),
    });
    const [row] = (await store.dataSource.query(
      `SELECT status FROM psi_expectation WHERE id = 'x'`,
    )) as Array<{ status: string }>;
    expect(row.status).toBe('open');

    // With retries (the default) the unit runs again and claims once.
    const attempts = { n: 0 };
    expect(await claimAndDie(store, 'y', attempts, 1)).toBe(1);
    expect(attempts.n).toBe(2);
    const rows = (await store.dataSource.query(
      'SELECT id, status FROM psi_expectation ORDER BY id',
    )) as unknown[];
    expect(rows).toEqual([
      { id: 'x', status: 'open' },
      { id: 'y', status: 'claimed' },
    ]);
  });
});
