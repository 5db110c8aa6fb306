import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { psiMigrations } from './entities';
import { ExpectationEntity } from './entities/expectation.entity';
import { ProcessGuardEntity } from './entities/process-guard.entity';
import { PsiStore } from './psi-store';

const POSTGRES_URL =
  process.env.PSI_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

describe(PsiStore, () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-store-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const expectation = (id: string): ExpectationEntity =>
    Object.assign(new ExpectationEntity(), {
      id,
      invocationId: 'inv',
      instanceId: 'i1',
      adapter: 'A',
      event: 'confirmed',
      waitState: 'w',
      correlationKey: 'k',
      businessKey: null,
      groupId: null,
      deadline: null,
      timeoutTransition: null,
      timeoutPending: false,
      parkingTtlMs: null,
      status: 'open',
      createdAt: Date.now(),
      closedAt: null,
    });

  describe('.open', () => {
    it('creates the SQLite file in WAL mode and migrates it once', async () => {
      const file = path.join(dir, 'nested', 'psi.sqlite');
      const store = await PsiStore.open({ sqlitePath: file });
      const [{ journal_mode }] = (await store.dataSource.query('PRAGMA journal_mode')) as Array<{
        journal_mode: string;
      }>;
      expect(journal_mode).toBe('wal');
      const [{ wal_autocheckpoint }] = (await store.dataSource.query(
        'PRAGMA wal_autocheckpoint',
      )) as Array<{ wal_autocheckpoint: number }>;
      expect(wal_autocheckpoint).toBe(10_000);
      await store.close();
      const again = await PsiStore.open({ sqlitePath: file });
      const migrations = (await again.dataSource.query(
        'SELECT name FROM psi_migrations',
      )) as unknown[];
      expect(migrations).toHaveLength(psiMigrations.length);
      await again.close();
      expect(fs.existsSync(file)).toBe(true);
    });
  });

  describe('durability', () => {
    const synchronous = async (store: PsiStore): Promise<number> => {
      const [{ synchronous: level }] = (await store.dataSource.query(
        'PRAGMA synchronous',
      )) as Array<{ synchronous: number }>;
      return Number(level);
    };

    it.each(['sqlite3', 'better-sqlite3'] as const)(
      'survives a power loss by default on %s: synchronous = FULL (2)',
      async (sqliteDriver) => {
        const store = await PsiStore.open({
          sqlitePath: path.join(dir, 'psi.sqlite'),
          sqliteDriver,
        });
        expect(await synchronous(store)).toBe(2);
        await store.close();
      },
    );

    it("runs with synchronous = NORMAL (1) only when asked: { durability: 'normal' }", async () => {
      const store = await PsiStore.open({
        sqlitePath: path.join(dir, 'psi.sqlite'),
        durability: 'normal',
      });
      expect(await synchronous(store)).toBe(1);
      await store.close();
    });

    it.each(['sqlite3', 'better-sqlite3'] as const)(
      'keeps nothing on disk when volatile on %s: in memory, synchronous = OFF, one database per store',
      async (sqliteDriver) => {
        const file = path.join(dir, 'ignored.sqlite');
        const first = await PsiStore.open({
          sqlitePath: file,
          sqliteDriver,
          durability: 'volatile',
        });
        const second = await PsiStore.open({
          sqlitePath: file,
          sqliteDriver,
          durability: 'volatile',
        });
        expect(await synchronous(first)).toBe(0);
        const [{ journal_mode }] = (await first.dataSource.query('PRAGMA journal_mode')) as Array<{
          journal_mode: string;
        }>;
        expect(journal_mode).toBe('memory');
        await first.transaction((tx) => tx.insert(ExpectationEntity, expectation('only-here')));
        expect(await first.dataSource.getRepository(ExpectationEntity).count()).toBe(1);
        expect(await second.dataSource.getRepository(ExpectationEntity).count()).toBe(0);
        // Readiness stays within each store, not shared through the (ignored) path.
        expect(first.readiness()).not.toBe(second.readiness());
        await Promise.all([first.close(), second.close()]);
        expect(fs.readdirSync(dir)).toEqual([]);
      },
    );

    it('refuses a volatile PostgreSQL store with a typed error', async () => {
      await expect(
        PsiStore.open({ type: 'postgres', url: POSTGRES_URL, durability: 'volatile' }),
      ).rejects.toMatchObject({ code: 'PSI_STORE_CONFIG_INVALID' });
    });

    it('refuses an unknown durability with a typed error', async () => {
      await expect(
        PsiStore.open({
          sqlitePath: path.join(dir, 'psi.sqlite'),
          durability: 'off' as 'full',
        }),
      ).rejects.toMatchObject({ code: 'PSI_STORE_CONFIG_INVALID' });
    });
  });

  describe('with better-sqlite3', () => {
    it('opens the same kind of file: WAL, migrated, readable by the default driver', async () => {
      const file = path.join(dir, 'psi.sqlite');
      const store = await PsiStore.open({ sqlitePath: file, sqliteDriver: 'better-sqlite3' });
      expect(store.dataSource.options.type).toBe('better-sqlite3');
      const [{ journal_mode }] = (await store.dataSource.query('PRAGMA journal_mode')) as Array<{
        journal_mode: string;
      }>;
      expect(journal_mode).toBe('wal');
      await store.transaction((tx) => tx.insert(ExpectationEntity, expectation('written')));
      await store.close();
      const again = await PsiStore.open({ sqlitePath: file, sqliteDriver: 'sqlite3' });
      const rows = await again.transaction((tx) => tx.find(ExpectationEntity));
      expect(rows.map((r) => r.id)).toEqual(['written']);
      await again.close();
    });

    it('refuses an unknown driver with a typed error', async () => {
      await expect(
        PsiStore.open({
          sqlitePath: path.join(dir, 'psi.sqlite'),
          sqliteDriver: 'sqlite4' as unknown as 'sqlite3',
        }),
      ).rejects.toMatchObject({
        code: 'PSI_STORE_CONFIG_INVALID',
        message: expect.stringContaining('sqlite4'),
      });
    });
  });

  describe('.transaction', () => {
    it('commits concurrent units together and rolls back only the failing one', async () => {
      const store = await PsiStore.open({ sqlitePath: path.join(dir, 'psi.sqlite') });
      const results = await Promise.allSettled(
        ['a', 'b', 'c'].map((id) =>
          store.transaction(async (tx) => {
            await tx.insert(ExpectationEntity, expectation(id));
            if (id === 'b') throw new Error('boom');
            return id;
          }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      const ids = await store.transaction((tx) =>
        tx.find(ExpectationEntity, { order: { id: 'ASC' } }),
      );
      expect(ids.map((e) => e.id)).toEqual(['a', 'c']);
      await store.close();
    });

    it('reports how many rows a conditional update claimed', async () => {
      const store = await PsiStore.open({ sqlitePath: path.join(dir, 'psi.sqlite') });
      await store.transaction((tx) => tx.insert(ExpectationEntity, expectation('x')));
      const claim = () =>
        store.transaction(async (tx) => {
          const result = await tx
            .createQueryBuilder()
            .update(ExpectationEntity)
            .set({ status: 'claimed' })
            .where('id = :id AND status = :open', { id: 'x', open: 'open' })
            .execute();
          return result.affected;
        });
      expect(await Promise.all([claim(), claim()])).toEqual([1, 0]);
      await store.close();
    });
  });
});

describe('PsiStore on PostgreSQL', () => {
  it('creates a missing schema on open, and raw SQL finds the tables there (search_path)', async () => {
    const schema = `psi_fresh_${process.pid}`;
    const store = await PsiStore.open({ url: POSTGRES_URL, schema, poolSize: 2 });
    try {
      const guard = { id: 'pg-1', ownerToken: 't', owner: 'o', startedAt: 1, expiresAt: 2 };
      await store.transaction((tx) => tx.insert(ProcessGuardEntity, guard));
      const rows = (await store.dataSource.query(
        'SELECT id, owner FROM psi_process_guard',
      )) as unknown[];
      expect(rows).toEqual([{ id: 'pg-1', owner: 'o' }]);
      const [{ current_schema }] = (await store.dataSource.query(
        'SELECT current_schema()',
      )) as Array<{
        current_schema: string;
      }>;
      expect(current_schema).toBe(schema);
    } finally {
      await store.dataSource.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await store.close();
    }
  });

  it('refuses a schema name that is not a plain identifier', async () => {
    await expect(
      PsiStore.open({ url: POSTGRES_URL, schema: 'x"; DROP TABLE y; --' }),
    ).rejects.toMatchObject({ code: 'PSI_STORE_CONFIG_INVALID' });
  });
});

describe('migrations', () => {
  // Entities and migrations must describe the same schema, or a generated migration would
  // rebuild tables (on SQLite: copy every row) for nothing.
  it('leave nothing for the schema builder to change on SQLite', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-schema-'));
    const store = await PsiStore.open({ sqlitePath: path.join(dir, 'psi.sqlite') });
    try {
      const diff = await store.dataSource.driver.createSchemaBuilder().log();
      expect(diff.upQueries.map((q) => q.query)).toEqual([]);
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leave nothing for the schema builder to change on PostgreSQL', async () => {
    await withPostgresSchema(`psi_schema_${process.pid}`, async (store) => {
      const diff = await store.dataSource.driver.createSchemaBuilder().log();
      expect(diff.upQueries.map((q) => q.query)).toEqual([]);
    });
  });
});

describe('partial indexes', () => {
  // The queries that look up business keys and deadlines must still find their rows through the
  // (now partial) indexes: a plan that scans the table would be slow exactly when it matters.
  const plans: Array<{ index: string; sql: string; values: unknown[] }> = [
    {
      index: 'psi_expectation_business',
      sql: 'SELECT "id" FROM "psi_expectation" WHERE "businessKey" IN (?, ?) AND "event" = ?',
      values: ['k1', 'k2', 'shipped'],
    },
    {
      index: 'psi_expectation_deadline',
      sql:
        'SELECT "deadline" FROM "psi_expectation" ' +
        `WHERE "status" = 'open' AND "deadline" IS NOT NULL AND "deadline" <= ? ` +
        'ORDER BY "deadline" LIMIT 1',
      values: [Date.now()],
    },
    {
      index: 'psi_parked_business',
      sql:
        'UPDATE "psi_parked_message" SET "expectationId" = ? ' +
        'WHERE "expectationId" IS NULL AND "event" = ? AND "businessKey" = ?',
      values: ['e1', 'shipped', 'k1'],
    },
  ];

  it('hold only rows with a business key or a deadline, and still serve their queries on SQLite', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-partial-'));
    const store = await PsiStore.open({ sqlitePath: path.join(dir, 'psi.sqlite') });
    try {
      const definitions = (await store.dataSource.query(
        `SELECT "name", "sql" FROM sqlite_master WHERE "type" = 'index' AND "name" IN (?, ?, ?)`,
        plans.map((p) => p.index),
      )) as Array<{ name: string; sql: string }>;
      expect(definitions).toHaveLength(3);
      for (const { sql } of definitions) expect(sql).toMatch(/WHERE .*"\w+" IS NOT NULL$/);
      for (const { index, sql, values } of plans) {
        const plan = (await store.dataSource.query(`EXPLAIN QUERY PLAN ${sql}`, values)) as Array<{
          detail: string;
        }>;
        expect(plan.map((step) => step.detail).join('\n')).toContain(`INDEX ${index}`);
      }
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('are partial on PostgreSQL too', async () => {
    const schema = `psi_partial_${process.pid}`;
    await withPostgresSchema(schema, async (store) => {
      const rows = (await store.dataSource.query(
        'SELECT "indexname", "indexdef" FROM pg_indexes WHERE "schemaname" = $1 AND "indexname" = ANY($2)',
        [schema, plans.map((p) => p.index)],
      )) as Array<{ indexname: string; indexdef: string }>;
      expect(rows).toHaveLength(3);
      for (const { indexdef } of rows) expect(indexdef).toMatch(/WHERE .*"?\w+"? IS NOT NULL\)+$/);
    });
  });
});

/** Runs `test` on a store migrated into a fresh PostgreSQL schema, dropped afterwards. */
async function withPostgresSchema(
  schema: string,
  test: (store: PsiStore) => Promise<void>,
): Promise<void> {
  const admin = await PsiStore.open({ url: POSTGRES_URL, migrate: false });
  await admin.dataSource.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  try {
    const store = await PsiStore.open({ url: POSTGRES_URL, schema });
    try {
      await test(store);
    } finally {
      await store.close();
    }
  } finally {
    await admin.dataSource.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.close();
  }
}
