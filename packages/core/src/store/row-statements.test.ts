import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { QueryFailedError } from 'typeorm';
import { EngineInstanceEntity } from './entities/engine-instance.entity';
import { ExpectationEntity } from './entities/expectation.entity';
import { ParkedMessageEntity } from './entities/parked-message.entity';
import { PsiStore } from './psi-store';
import {
  countRows,
  countRowsUpTo,
  deleteRows,
  findRow,
  findRows,
  findRowsEither,
  insertRow,
  insertRowIfAbsent,
  insertRowReturningId,
  insertRows,
  selectRows,
  updateRows,
  updateRowsReturning,
  updateRowsWhen,
  upsertRow,
} from './row-statements';

const POSTGRES_URL =
  process.env.PSI_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function expectation(id: string, changes: Partial<ExpectationEntity> = {}): ExpectationEntity {
  return {
    id,
    invocationId: 'inv-1',
    instanceId: 'i1',
    adapter: 'A',
    event: 'confirmed',
    waitState: 'w',
    correlationKey: `key-${id}`,
    businessKey: null,
    groupId: null,
    deadline: 1_700_000_000_123,
    timeoutTransition: null,
    timeoutPending: false,
    parkingTtlMs: null,
    status: 'open',
    createdAt: 1_700_000_000_000,
    closedAt: null,
    claimedBy: null,
    claimExpiresAt: null,
    deliveryId: null,
    claimedMessage: null,
    traceParent: null,
    traceState: null,
    activationId: null,
    repeats: false,
    ...changes,
  };
}

describe.each(['sqlite', 'postgres'] as const)('row statements on %s', (kind) => {
  let store: PsiStore;
  let cleanup: () => Promise<void>;

  beforeEach(async () => {
    if (kind === 'sqlite') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-rows-'));
      store = await PsiStore.open({ sqlitePath: path.join(dir, 'psi.sqlite') });
      cleanup = async () => {
        await store.close();
        fs.rmSync(dir, { recursive: true, force: true });
      };
    } else {
      const schema = `rows_${randomBytes(4).toString('hex')}`;
      store = await PsiStore.open({ url: POSTGRES_URL, schema, poolSize: 2 });
      cleanup = async () => {
        await store.dataSource.query(`DROP SCHEMA "${schema}" CASCADE`);
        await store.close();
      };
    }
  });
  afterEach(() => cleanup());

  it('reads back what it wrote as TypeORM reads it (numbers, booleans, nulls)', async () => {
    await store.transaction((tx) => insertRow(tx, ExpectationEntity, expectation('e1')));
    const mine = await store.transaction((tx) => findRow(tx, ExpectationEntity, { id: 'e1' }));
    const typeorms = await store.transaction((tx) => tx.findOneBy(ExpectationEntity, { id: 'e1' }));
    expect(mine).toEqual(typeorms);
    expect(mine).toBeInstanceOf(ExpectationEntity);
    expect(mine?.deadline).toBe(1_700_000_000_123);
    expect(mine?.timeoutPending).toBe(false);
    expect(mine?.businessKey).toBeNull();
  });

  it('compares with =, IS NULL and IN, and orders and limits', async () => {
    await store.transaction((tx) =>
      insertRows(tx, ExpectationEntity, [
        expectation('a', { status: 'open', groupId: 'g' }),
        expectation('b', { status: 'claimed' }),
        expectation('c', { status: 'delivered', groupId: 'g' }),
      ]),
    );
    const ids = (rows: ExpectationEntity[]): string[] => rows.map((r) => r.id);
    await store.transaction(async (tx) => {
      expect(ids(await findRows(tx, ExpectationEntity, { groupId: null }))).toEqual(['b']);
      expect(
        ids(
          await findRows(
            tx,
            ExpectationEntity,
            { status: ['open', 'delivered'] },
            { order: { id: 'DESC' } },
          ),
        ),
      ).toEqual(['c', 'a']);
      expect(
        ids(await findRows(tx, ExpectationEntity, {}, { order: { id: 'ASC' }, limit: 2 })),
      ).toEqual(['a', 'b']);
      expect(await countRows(tx, ExpectationEntity, { status: [] })).toBe(0);
      expect(
        await countRows(tx, ExpectationEntity, {
          invocationId: 'inv-1',
          status: ['open', 'claimed'],
        }),
      ).toBe(2);
      expect(await findRow(tx, ExpectationEntity, { id: 'missing' })).toBeNull();
    });
  });

  it('updates and deletes conditionally, reporting how many rows changed', async () => {
    await store.transaction((tx) => insertRow(tx, ExpectationEntity, expectation('e1')));
    const claim = (): Promise<number> =>
      store.transaction((tx) =>
        updateRows(
          tx,
          ExpectationEntity,
          { id: 'e1', status: 'open' },
          { status: 'claimed', claimedBy: 'node-a', timeoutPending: true },
        ),
      );
    expect(await claim()).toBe(1);
    expect(await claim()).toBe(0); // the race primitive: the second claimer sees 0
    const row = await store.transaction((tx) => findRow(tx, ExpectationEntity, { id: 'e1' }));
    expect(row).toMatchObject({ status: 'claimed', claimedBy: 'node-a', timeoutPending: true });
    expect(await store.transaction((tx) => deleteRows(tx, ExpectationEntity, { id: 'e1' }))).toBe(
      1,
    );
    expect(await store.transaction((tx) => deleteRows(tx, ExpectationEntity, { id: 'e1' }))).toBe(
      0,
    );
  });

  it('returns generated ids and upserts on the conflict columns', async () => {
    const park = (messageId: string): Promise<number> =>
      store.transaction((tx) =>
        insertRowReturningId(tx, ParkedMessageEntity, {
          messageId,
          event: 'confirmed',
          correlationKey: 'k',
          businessKey: null,
          payload: '{}',
          source: null,
          expectationId: null,
          instanceId: null,
          receivedAt: 1,
          expiresAt: 2,
        }),
      );
    const first = await park('m1');
    const second = await park('m2');
    expect(second).toBeGreaterThan(first);
    const seqs = await store.transaction((tx) =>
      findRows(tx, ParkedMessageEntity, {}, { order: { seq: 'ASC' } }),
    );
    expect(seqs.map((r) => [r.seq, r.messageId])).toEqual([
      [first, 'm1'],
      [second, 'm2'],
    ]);

    const save = (state: string): Promise<void> =>
      store.transaction((tx) =>
        upsertRow(tx, EngineInstanceEntity, { engine: 'e', instanceId: 'i', state, updatedAt: 1 }, [
          'engine',
          'instanceId',
        ]),
      );
    await save('one');
    await save('two');
    const states = await store.transaction((tx) =>
      findRows(tx, EngineInstanceEntity, { engine: 'e' }),
    );
    expect(states.map((s) => s.state)).toEqual(['two']);
  });

  it('inserts a row only while no row has the same unique key', async () => {
    const engineRow = (state: string): EngineInstanceEntity => ({
      engine: 'e',
      instanceId: 'i',
      state,
      updatedAt: 1,
      running: true,
    });
    const insert = (state: string): Promise<boolean> =>
      store.transaction((tx) =>
        insertRowIfAbsent(tx, EngineInstanceEntity, engineRow(state), ['engine', 'instanceId']),
      );
    expect(await insert('first')).toBe(true);
    expect(await insert('second')).toBe(false);
    const rows = await store.transaction((tx) => findRows(tx, EngineInstanceEntity, {}));
    expect(rows.map((r) => r.state)).toEqual(['first']);
  });

  it('runs shapes written in SQL: capped counts, either-of reads, conditions, RETURNING', async () => {
    await store.transaction((tx) =>
      insertRows(tx, ExpectationEntity, [
        expectation('e1', { timeoutPending: true, status: 'timed-out' }),
        expectation('e2'),
        expectation('e3', { instanceId: 'i2' }),
      ]),
    );
    const out = await store.transaction(async (tx) => ({
      capped: await countRowsUpTo(tx, ExpectationEntity, { instanceId: 'i1' }, 1),
      all: await countRowsUpTo(tx, ExpectationEntity, { instanceId: 'i1' }, 10),
      either: await findRowsEither(
        tx,
        ExpectationEntity,
        { instanceId: 'i1', timeoutPending: true },
        { id: ['e3'] },
      ),
      // Placeholders of the set, the where and the condition's params bind in text order.
      moved: await updateRowsWhen(
        tx,
        ExpectationEntity,
        'test-when',
        { status: 'open' },
        { waitState: 'moved' },
        (sql) =>
          `"event" = ${sql.param('event', 2)} AND "instanceId" = ${sql.param('instanceId', 2)}`,
        { event: 'confirmed', instanceId: 'i2' },
      ),
      returned: await updateRowsReturning(
        tx,
        ExpectationEntity,
        'test-returning',
        { id: 'e2' },
        { closedAt: 5 },
        {
          set: () => `"waitState" = CASE WHEN "status" = 'open' THEN 'open-w' ELSE 'x' END`,
          returning: (sql) =>
            `"waitState", (SELECT COUNT(1) FROM ${sql.table} "o" WHERE "o"."instanceId" = ` +
            `${sql.param('id', 1)}) AS "n"`,
        },
      ),
    }));
    expect(out.capped).toBe(1);
    expect(out.all).toBe(2);
    expect(out.either.map((e) => e.id).sort()).toEqual(['e1', 'e3']);
    expect(out.either.find((e) => e.id === 'e1')?.timeoutPending).toBe(true);
    expect(out.moved).toBe(1);
    expect(out.returned).toEqual([{ waitState: 'open-w', n: expect.anything() as unknown }]);
    expect(Number(out.returned[0].n)).toBe(0); // no instance has the id 'e2'
    // Outside a transaction (PsiStore.read hands PostgreSQL's data source manager).
    const owners = await store.read((tx) =>
      selectRows(
        tx,
        ExpectationEntity,
        'test-distinct',
        (sql) => `SELECT DISTINCT "instanceId" AS "i" FROM ${sql.table} ORDER BY "instanceId"`,
      ),
    );
    expect(owners).toEqual([{ i: 'i1' }, { i: 'i2' }]);
  });

  it('fails with TypeORM’s QueryFailedError, and the unit rolls back', async () => {
    await store.transaction((tx) => insertRow(tx, ExpectationEntity, expectation('e1')));
    await expect(
      store.transaction(async (tx) => {
        await insertRow(tx, ExpectationEntity, expectation('e2'));
        await insertRow(tx, ExpectationEntity, expectation('e1')); // duplicate primary key
      }),
    ).rejects.toBeInstanceOf(QueryFailedError);
    expect(await store.transaction((tx) => countRows(tx, ExpectationEntity, {}))).toBe(1);
  });

  it('names the entity and column when asked for a column it does not have', async () => {
    await expect(
      store.transaction((tx) =>
        findRows(tx, ExpectationEntity, { nope: 'x' } as unknown as Partial<ExpectationEntity>),
      ),
    ).rejects.toThrow('ExpectationEntity has no column "nope"');
  });
});
