import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PsiStore, type StoreOptions } from '@psi/core';
import type { TestStoreOptions } from '@psi/testing';

/** The databases (and SQLite drivers) a store-parametrised test runs on. */
export type StoreKind = 'sqlite' | 'better-sqlite3' | 'postgres';

const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'better-sqlite3', 'postgres'];

/** The machine's PostgreSQL (CI and local); PSI_TEST_POSTGRES_URL points elsewhere. */
export const TEST_POSTGRES_URL =
  process.env.PSI_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Which stores the parametrised suites run on: env `PSI_TEST_STORES` (comma separated, e.g.
 * `sqlite` or `postgres,better-sqlite3`), default all three: SQLite through the default sqlite3
 * driver and through better-sqlite3, and PostgreSQL.
 */
export function testStoreKinds(): StoreKind[] {
  const wanted = (process.env.PSI_TEST_STORES ?? STORE_KINDS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const kind of wanted) {
    if (!STORE_KINDS.includes(kind as StoreKind))
      throw new Error(`PSI_TEST_STORES: unknown store "${kind}" (${STORE_KINDS.join(', ')})`);
  }
  return wanted as StoreKind[];
}

export const storeLabel = (kind: StoreKind): string =>
  ({
    sqlite: 'SQLite file',
    'better-sqlite3': 'SQLite file, better-sqlite3',
    postgres: 'PostgreSQL schema',
  })[kind];

const POSTGRES_PREFIX = 'postgres:';
const BETTER_SQLITE3_PREFIX = 'better-sqlite3:';

/**
 * Where a test's store lives, as one string: a SQLite file path (`better-sqlite3:<path>` through
 * that driver), or `postgres:<schema>` on the test database. Reopening the same location sees
 * the same state (a restart).
 */
export type StoreLocation = string;

export function isPostgresLocation(location: StoreLocation): boolean {
  return location.startsWith(POSTGRES_PREFIX);
}

/** Store options for a location (the schema is created and migrated on open). */
export function storeOptionsFor(location: StoreLocation): StoreOptions {
  if (location.startsWith(BETTER_SQLITE3_PREFIX)) {
    return {
      sqlitePath: location.slice(BETTER_SQLITE3_PREFIX.length),
      sqliteDriver: 'better-sqlite3',
    };
  }
  if (!isPostgresLocation(location)) return { sqlitePath: location, sqliteDriver: 'sqlite3' };
  return {
    url: TEST_POSTGRES_URL,
    schema: location.slice(POSTGRES_PREFIX.length),
    // Several harnesses may share the database at once; keep each one's pool small.
    poolSize: 4,
  };
}

/** The location as `@psi/testing` takes it: a kept SQLite file, or a kept PostgreSQL schema. */
export function testStoreOptionsFor(location: StoreLocation): TestStoreOptions {
  const options = storeOptionsFor(location);
  if (options.url !== undefined)
    return { kind: 'postgres', url: options.url, schema: options.schema };
  return { kind: 'sqlite', path: options.sqlitePath, driver: options.sqliteDriver };
}

export function openTestStore(
  location: StoreLocation,
  extra: Partial<StoreOptions> = {},
): Promise<PsiStore> {
  return PsiStore.open({ ...storeOptionsFor(location), ...extra });
}

/** A fresh, unique PostgreSQL schema name (not created yet). */
export function freshSchemaName(tag = 't'): string {
  return `psi_${tag}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** Drops schemas on the test database (with everything in them). */
export async function dropSchemas(schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  const admin = await PsiStore.open({ url: TEST_POSTGRES_URL, migrate: false, poolSize: 1 });
  try {
    for (const schema of schemas)
      await admin.dataSource.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await admin.close();
  }
}

/**
 * Fresh store locations of one kind: a temp dir of SQLite files, or a fresh PostgreSQL schema per
 * call; all removed (dropped) after the test file. Call at describe level.
 */
export function useStoreLocations(
  kind: StoreKind,
  prefix = 'psi-correlation-',
): { next(name?: string): StoreLocation } {
  let dir: string | undefined;
  let n = 0;
  const schemas: string[] = [];
  afterAll(async () => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    await dropSchemas(schemas.splice(0));
  });
  return {
    next(name?: string): StoreLocation {
      if (kind === 'postgres') {
        const schema = freshSchemaName();
        schemas.push(schema);
        return `${POSTGRES_PREFIX}${schema}`;
      }
      dir ??= fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      const file = path.join(dir, name ?? `store-${++n}.sqlite`);
      return kind === 'better-sqlite3' ? `${BETTER_SQLITE3_PREFIX}${file}` : file;
    },
  };
}

/**
 * Runs raw SQL written for SQLite on either store: `?` placeholders become `$n` and `rowid`
 * becomes `ctid` on PostgreSQL (insertion order for rows never updated), and booleans read back
 * as 0/1 as SQLite returns them, so assertions on rows hold on both databases.
 */
export async function portableQuery<T>(
  store: PsiStore,
  sql: string,
  parameters?: unknown[],
): Promise<T[]> {
  if (store.kind === 'sqlite') return (await store.dataSource.query(sql, parameters)) as T[];
  let n = 0;
  const translated = sql.replace(/\?/g, () => `$${++n}`).replace(/\browid\b/g, 'ctid');
  const rows = (await store.dataSource.query(translated, parameters)) as Array<
    Record<string, unknown>
  >;
  return rows.map(
    (row) =>
      Object.fromEntries(
        Object.entries(row).map(([k, v]) => [k, typeof v === 'boolean' ? Number(v) : v]),
      ) as T,
  );
}
