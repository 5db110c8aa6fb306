import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PsiErrorCode, UnknownServiceError } from '@psi/core';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { DatabaseRegistry } from './database.registry';
import { RegistryConfigError, RegistryEntryError } from './errors';
import { registryEntities, registryMigrations } from './registry-schema';
import { ServiceEntryEntity } from './service-entry.entity';

/** A database for one test file: DataSource options for it, and how to throw it away. */
interface Backend {
  options(): DataSourceOptions;
  dispose(): Promise<void>;
}

async function sqliteBackend(): Promise<Backend> {
  const dir = mkdtempSync(join(tmpdir(), 'psi-db-registry-'));
  return {
    options: () => ({ type: 'sqlite', database: join(dir, 'registry.sqlite') }),
    dispose: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  };
}

const postgresUrl = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs statements on one PostgreSQL database through a short-lived DataSource. */
async function onPostgres(url: string, ...statements: string[]): Promise<void> {
  const admin = new DataSource({ type: 'postgres', url });
  await admin.initialize();
  try {
    for (const statement of statements) await admin.query(statement);
  } finally {
    await admin.destroy();
  }
}

/** A fresh database, with the registry in a non-default schema to prove the schema option is honoured. */
async function postgresBackend(): Promise<Backend> {
  const database = `psi_registry_test_${randomBytes(6).toString('hex')}`;
  const url = postgresUrl.replace(/\/postgres$/, `/${database}`);
  await onPostgres(postgresUrl, `CREATE DATABASE ${database}`);
  await onPostgres(url, 'CREATE SCHEMA psi');
  return {
    options: () => ({ type: 'postgres', url, schema: 'psi' }),
    dispose: () => onPostgres(postgresUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`),
  };
}

const backends: [string, () => Promise<Backend>][] = [['SQLite', sqliteBackend]];
if (process.env.PSI_SKIP_POSTGRES !== '1') backends.push(['PostgreSQL', postgresBackend]);

describe.each(backends)('DatabaseRegistry on %s', (_label, makeBackend) => {
  let backend: Backend;
  let dataSource: DataSource;
  let registry: DatabaseRegistry;
  const opened: DataSource[] = [];

  /** A DataSource as a node would open it: registry entities and migrations, run at start. */
  const open = async (): Promise<DataSource> => {
    const source = new DataSource({
      ...backend.options(),
      entities: registryEntities,
      migrations: registryMigrations,
      migrationsRun: true,
    } as DataSourceOptions);
    await source.initialize();
    opened.push(source);
    return source;
  };

  beforeAll(async () => {
    backend = await makeBackend();
    dataSource = await open();
  });

  afterAll(async () => {
    for (const source of opened) if (source.isInitialized) await source.destroy();
    await backend?.dispose();
  });

  beforeEach(async () => {
    await dataSource.getRepository(ServiceEntryEntity).clear();
    registry = new DatabaseRegistry(dataSource);
  });

  describe('migration', () => {
    it('creates exactly the table the entity describes, in the DataSource schema', async () => {
      const runner = dataSource.createQueryRunner();
      try {
        const tablePath = dataSource.getMetadata(ServiceEntryEntity).tablePath;
        expect(tablePath).toBe(
          dataSource.options.type === 'postgres'
            ? 'psi.psi_service_registry'
            : 'psi_service_registry',
        );
        await expect(runner.hasTable(tablePath)).resolves.toBe(true);
      } finally {
        await runner.release();
      }
      const pending = await dataSource.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((q) => q.query)).toEqual([]);
    });

    it('enforces one row per service, version, environment and tenant', async () => {
      const repository = dataSource.getRepository(ServiceEntryEntity);
      await repository.insert({ service: 'erp', transport: 'http', address: 'a' });
      await expect(
        repository.insert({ service: 'erp', transport: 'http', address: 'b' }),
      ).rejects.toThrow();
      await repository.insert({ service: 'erp', transport: 'http', address: 'c', version: '2' });
    });
  });

  describe('.put and .resolve', () => {
    it('stores every field and answers with it', async () => {
      const entry = {
        transport: 'kafka',
        address: 'supplier-requests',
        replyAddress: 'supplier-replies',
        timeoutMs: 5000,
        parkingTtlMs: 30 * 24 * 3600 * 1000,
        retry: { maxAttempts: 3, initialDelayMs: 100, multiplier: 1.5, maxDelayMs: 5000 },
      };
      await expect(registry.put('supplier', entry)).resolves.toEqual({
        service: 'supplier',
        ...entry,
      });
      await expect(registry.resolve('supplier')).resolves.toEqual({
        service: 'supplier',
        ...entry,
      });
    });

    it('picks variants by hints, entries without the field being fallbacks', async () => {
      await registry.put('erp', { transport: 'http', address: 'https://erp' });
      await registry.put('erp', {
        transport: 'http',
        address: 'https://erp-test',
        environment: 'test',
      });
      await registry.put('erp', {
        transport: 'http',
        address: 'https://erp-acme-v2',
        version: '2',
        tenant: 'acme',
      });
      const address = async (hints?: object): Promise<string> =>
        (await registry.resolve('erp', hints)).address;
      await expect(address()).resolves.toBe('https://erp');
      await expect(address({ environment: 'test' })).resolves.toBe('https://erp-test');
      await expect(address({ environment: 'prod' })).resolves.toBe('https://erp');
      await expect(address({ version: '2', tenant: 'acme' })).resolves.toBe('https://erp-acme-v2');
      await expect(address({ version: '2' })).resolves.toBe('https://erp');
      await expect(registry.resolve('erp', { environment: 'test' })).resolves.toEqual({
        service: 'erp',
        transport: 'http',
        address: 'https://erp-test',
        environment: 'test',
      });
    });

    it('replaces a variant and clears the fields left out', async () => {
      await registry.put('erp', {
        transport: 'http',
        address: 'https://old',
        timeoutMs: 100,
        retry: { maxAttempts: 2 },
      });
      const before = await dataSource
        .getRepository(ServiceEntryEntity)
        .findOneByOrFail({ service: 'erp' });
      await registry.put('erp', { transport: 'http', address: 'https://new' });
      await expect(registry.resolve('erp')).resolves.toEqual({
        service: 'erp',
        transport: 'http',
        address: 'https://new',
      });
      const rows = await dataSource.getRepository(ServiceEntryEntity).find();
      expect(rows).toHaveLength(1);
      expect(rows[0]!.updatedAt.getTime()).toBeGreaterThanOrEqual(before.updatedAt.getTime());
    });

    it('sees changes made by another node at once, without a restart', async () => {
      const otherNode = new DatabaseRegistry(await open(), { name: 'other-node' });
      await registry.put('erp', { transport: 'http', address: 'https://v1' });
      await expect(otherNode.resolve('erp')).resolves.toMatchObject({ address: 'https://v1' });
      await registry.put('erp', { transport: 'http', address: 'https://v2' });
      await expect(otherNode.resolve('erp')).resolves.toMatchObject({ address: 'https://v2' });
      await registry.remove('erp');
      await expect(otherNode.resolve('erp')).rejects.toBeInstanceOf(UnknownServiceError);
    });

    it('sees rows an operator edits directly', async () => {
      await registry.put('erp', { transport: 'http', address: 'https://v1' });
      await dataSource
        .createQueryBuilder()
        .update(ServiceEntryEntity)
        .set({ address: 'https://edited', timeoutMs: 750 })
        .where('service = :service', { service: 'erp' })
        .execute();
      await expect(registry.resolve('erp')).resolves.toMatchObject({
        address: 'https://edited',
        timeoutMs: 750,
      });
    });

    it('rejects an invalid entry, naming the service and field', async () => {
      const error = await registry
        .put('erp', { transport: 'http', address: '', timeoutMs: 1.5 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RegistryEntryError);
      expect((error as RegistryEntryError).violations.map((v) => v.path)).toEqual([
        'erp.address',
        'erp.timeoutMs',
      ]);
      await expect(registry.resolve('erp')).rejects.toBeInstanceOf(UnknownServiceError);
    });

    it('reports a hand-edited row that is not valid, naming the row and field', async () => {
      await registry.put('erp', { transport: 'http', address: 'https://erp' });
      await dataSource
        .getRepository(ServiceEntryEntity)
        .update({ service: 'erp' }, { retry: '{maxAttempts:' });
      const error = (await registry.resolve('erp').catch((e: unknown) => e)) as RegistryEntryError;
      expect(error).toBeInstanceOf(RegistryEntryError);
      expect(error.registry).toBe('database');
      expect(error.violations).toHaveLength(1);
      expect(error.violations[0]!.path).toMatch(/^erp\[id=\d+\]\.retry$/);
      await dataSource
        .getRepository(ServiceEntryEntity)
        .update({ service: 'erp' }, { retry: '{"maxAttempts":0}' });
      await expect(registry.resolve('erp')).rejects.toMatchObject({
        violations: [{ path: expect.stringMatching(/^erp\[id=\d+\]\.retry\.maxAttempts$/) }],
      });
    });

    it('rejects an unknown service with UnknownServiceError naming the registry', async () => {
      const named = new DatabaseRegistry(dataSource, { name: 'ops-db' });
      await expect(named.resolve('fax')).rejects.toMatchObject({
        code: PsiErrorCode.ServiceUnknown,
        service: 'fax',
        registriesAsked: ['ops-db'],
      });
    });
  });

  describe('.remove', () => {
    beforeEach(async () => {
      await registry.put('erp', { transport: 'http', address: 'https://erp' });
      await registry.put('erp', {
        transport: 'http',
        address: 'https://erp-test',
        environment: 'test',
      });
      await registry.put('crm', { transport: 'http', address: 'https://crm' });
    });

    it('removes one variant when told which', async () => {
      await expect(registry.remove('erp', { environment: 'test' })).resolves.toBe(1);
      await expect(registry.resolve('erp', { environment: 'test' })).resolves.toMatchObject({
        address: 'https://erp',
      });
    });

    it('removes every variant of the service otherwise', async () => {
      await expect(registry.remove('erp')).resolves.toBe(2);
      await expect(registry.resolve('erp')).rejects.toBeInstanceOf(UnknownServiceError);
      await expect(registry.resolve('crm')).resolves.toMatchObject({ address: 'https://crm' });
      await expect(registry.remove('erp')).resolves.toBe(0);
    });
  });

  it('tells how to fix a DataSource that lacks the registry entity', async () => {
    const bare = new DataSource({ ...backend.options(), entities: [] } as DataSourceOptions);
    await bare.initialize();
    opened.push(bare);
    await expect(new DatabaseRegistry(bare).resolve('erp')).rejects.toThrow(RegistryConfigError);
    await expect(new DatabaseRegistry(bare).resolve('erp')).rejects.toThrow(/registryEntities/);
  });

  it('migrates down by dropping the table', async () => {
    const source = await open();
    await source.undoLastMigration();
    const runner = source.createQueryRunner();
    try {
      await expect(runner.hasTable(source.getMetadata(ServiceEntryEntity).tablePath)).resolves.toBe(
        false,
      );
    } finally {
      await runner.release();
    }
    await source.runMigrations();
    await expect(new DatabaseRegistry(source).resolve('erp')).rejects.toBeInstanceOf(
      UnknownServiceError,
    );
  });
});
