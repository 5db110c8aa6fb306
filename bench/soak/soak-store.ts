import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PsiStore } from '@psi/core';
import { EFFECT_TABLE_SQL, type SoakStoreParams } from './soak-protocol';

/** The soak's store as the supervisor reads it: raw SQL on both databases. */
export interface SoakStore {
  params: SoakStoreParams;
  /** SQL written with `?` placeholders; `$n` on PostgreSQL. */
  query<T>(sql: string, parameters?: unknown[]): Promise<T[]>;
  /** The side-effect table (a file of its own on SQLite). */
  effects<T>(sql: string, parameters?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
  /** Drops the PostgreSQL schema / deletes the SQLite files. */
  destroy(): Promise<void>;
}

/** Creates and migrates a fresh store for a soak run, with its side-effect table. */
export async function createSoakStore(options: {
  kind: 'sqlite' | 'postgres';
  dir: string;
  postgresUrl: string;
}): Promise<SoakStore> {
  const params: SoakStoreParams =
    options.kind === 'postgres'
      ? {
          kind: 'postgres',
          url: options.postgresUrl,
          schema: `psi_soak_${process.pid}_${randomBytes(3).toString('hex')}`,
        }
      : {
          kind: 'sqlite',
          sqlitePath: path.join(options.dir, 'soak.sqlite'),
          effectsPath: path.join(options.dir, 'soak-effects.sqlite'),
        };
  const store = await PsiStore.open(
    params.kind === 'postgres'
      ? { url: params.url, schema: params.schema, poolSize: 4 }
      : { sqlitePath: params.sqlitePath },
  );
  const effectsStore =
    params.kind === 'postgres'
      ? store
      : await PsiStore.open({ sqlitePath: params.effectsPath, migrate: false });
  await effectsStore.dataSource.query(EFFECT_TABLE_SQL);
  const run = async <T>(on: PsiStore, sql: string, parameters?: unknown[]): Promise<T[]> => {
    let n = 0;
    const text = on.kind === 'postgres' ? sql.replace(/\?/g, () => `$${++n}`) : sql;
    return (await on.dataSource.query(text, parameters)) as T[];
  };
  return {
    params,
    query: (sql, parameters) => run(store, sql, parameters),
    effects: (sql, parameters) => run(effectsStore, sql, parameters),
    async close() {
      if (effectsStore !== store) await effectsStore.close();
      await store.close();
    },
    async destroy() {
      if (params.kind === 'postgres') {
        const admin = await PsiStore.open({ url: params.url, migrate: false, poolSize: 1 });
        await admin.dataSource.query(`DROP SCHEMA IF EXISTS "${params.schema}" CASCADE`);
        await admin.close();
      } else {
        for (const file of [params.sqlitePath, params.effectsPath]) {
          for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${file}${suffix}`, { force: true });
        }
      }
    },
  };
}

/**
 * Writes `count` ended instances (engine state, invocation, delivered expectation, audit) into
 * the store, as a history a node starts on: what restore() and the start-up recovery must not
 * read through. Multi-row INSERTs, ~1,000 rows each.
 */
export async function writeHistory(store: SoakStore, count: number): Promise<void> {
  const now = Date.now();
  const CHUNK = 500;
  for (let from = 0; from < count; from += CHUNK) {
    const ids = Array.from(
      { length: Math.min(CHUNK, count - from) },
      (_, i) => `history-${from + i}`,
    );
    const state = (id: string): string =>
      JSON.stringify({
        version: 1,
        instanceId: id,
        definitionId: 'soak-ck',
        status: 'completed',
        variables: { instanceId: id, orderNo: id, visit: 1 },
        history: ['ck-call', 'ck-await', 'done'],
        startedAt: now,
        endedAt: now,
      });
    await insertRows(
      store,
      'psi_engine_instance',
      ['engine', 'instanceId', 'state', 'updatedAt', 'running'],
      ids.map((id) => [
        'reference',
        id,
        state(id),
        now,
        store.params.kind === 'postgres' ? false : 0,
      ]),
    );
    await insertRows(
      store,
      'psi_invocation',
      [
        'id',
        'instanceId',
        'activationId',
        'step',
        'adapter',
        'service',
        'correlationKey',
        'status',
        'createdAt',
        'updatedAt',
      ],
      ids.map((id) => [
        `inv-${id}`,
        id,
        `act-${id}`,
        'ck-call',
        'Soak_ck_Adapter',
        'soak',
        `ck-${id}`,
        'completed',
        now,
        now,
      ]),
    );
    await insertRows(
      store,
      'psi_expectation',
      [
        'id',
        'invocationId',
        'instanceId',
        'adapter',
        'event',
        'waitState',
        'correlationKey',
        'status',
        'createdAt',
        'closedAt',
        'timeoutPending',
      ],
      ids.map((id) => [
        `exp-${id}`,
        `inv-${id}`,
        id,
        'Soak_ck_Adapter',
        'ck-answered',
        'ck-await',
        `ck-${id}`,
        'delivered',
        now,
        now,
        store.params.kind === 'postgres' ? false : 0,
      ]),
    );
    await insertRows(
      store,
      'psi_audit',
      ['instanceId', 'invocationId', 'kind', 'detail', 'at'],
      ids.flatMap((id) =>
        ['invoked', 'sent', 'completed', 'delivered'].map((kind) => [
          id,
          `inv-${id}`,
          kind,
          null,
          now,
        ]),
      ),
    );
  }
}

async function insertRows(
  store: SoakStore,
  table: string,
  columns: string[],
  rows: unknown[][],
): Promise<void> {
  const PER_STATEMENT = Math.floor(900 / columns.length);
  for (let i = 0; i < rows.length; i += PER_STATEMENT) {
    const chunk = rows.slice(i, i + PER_STATEMENT);
    const tuples = chunk.map(() => `(${columns.map(() => '?').join(', ')})`).join(', ');
    await store.query(
      `INSERT INTO ${table} (${columns.map((c) => `"${c}"`).join(', ')}) VALUES ${tuples}`,
      chunk.flat(),
    );
  }
}
