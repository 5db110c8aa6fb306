import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PsiStore, type StoreOptions } from '@psi/core';
import { DataSource } from 'typeorm';
import { DatabaseRegistry } from './database.registry';
import { registryEntities, registryMigrations } from './registry-schema';

const postgresUrl = 'postgres://postgres@127.0.0.1:5432/postgres';

async function onPostgres(url: string, statement: string): Promise<void> {
  const admin = new DataSource({ type: 'postgres', url });
  await admin.initialize();
  try {
    await admin.query(statement);
  } finally {
    await admin.destroy();
  }
}

/** Store options for a throw-away database, and how to throw it away. */
type Target = () => Promise<{ options: StoreOptions; dispose: () => Promise<void> }>;

const sqlite: Target = () => {
  const dir = mkdtempSync(join(tmpdir(), 'psi-store-registry-'));
  return Promise.resolve({
    options: { sqlitePath: join(dir, 'psi.sqlite') },
    dispose: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
};

const postgres: Target = async () => {
  const database = `psi_registry_store_${randomBytes(6).toString('hex')}`;
  await onPostgres(postgresUrl, `CREATE DATABASE ${database}`);
  return {
    options: { url: postgresUrl.replace(/\/postgres$/, `/${database}`) },
    dispose: () => onPostgres(postgresUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`),
  };
};

const targets: [string, Target][] = [['SQLite', sqlite]];
if (process.env.PSI_SKIP_POSTGRES !== '1') targets.push(['PostgreSQL', postgres]);

describe.each(targets)('DatabaseRegistry in the PSI store on %s', (_label, target) => {
  it('runs on the store DataSource given the registry entities and migrations', async () => {
    const { options, dispose } = await target();
    let store: PsiStore | undefined;
    try {
      store = await PsiStore.open({
        ...options,
        entities: registryEntities,
        migrations: registryMigrations,
      });
      const registry = new DatabaseRegistry(store.dataSource);
      await registry.put('erp', { transport: 'http', address: 'https://erp', timeoutMs: 800 });
      await expect(registry.resolve('erp')).resolves.toMatchObject({
        address: 'https://erp',
        timeoutMs: 800,
      });
      const pending = await store.dataSource.driver.createSchemaBuilder().log();
      const ours = pending.upQueries.filter((q) => q.query.includes('psi_service_registry'));
      expect(ours).toEqual([]);
    } finally {
      await store?.close();
      await dispose();
    }
  });
});
