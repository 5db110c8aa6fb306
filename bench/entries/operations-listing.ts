import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { PsiOperations, PsiStore, type RecordFilter, type StoreOptions } from '@psi/core';
import { percentile, type BenchResult } from '../report';
import { loadBetterSqlite3 } from './better-sqlite3';
import { skippedRow } from './closed-loop';
import type { BenchContext, BenchEntry } from './entry';

/** Dead letters in the store (issue 19: "listing 100,000 dead letters pages in under a second"). */
const LETTERS = 100_000;
const QUICK_LETTERS = 10_000;
/** Invocations (with one expectation each) the letters belong to: the service filter joins them. */
const INVOCATIONS = 1_000;
const ROWS_PER_INSERT = 500;
const REPEATS = 20;

const REASONS = ['late', 'expired', 'handler-failed', 'invalid', 'superseded'] as const;
const SERVICES = ['supplier', 'erp', 'printer', 'fax'] as const;

/**
 * The operations API on a store holding 100,000 dead letters (and 1,000 invocations with their
 * expectations, so the service filter and the groups join real rows): what the console and
 * `psi dead-letters` do per page. Each row times one call, repeated; p50 / p99 are per call.
 * - `first page`: the newest 50 and the total count (what a list page asks);
 * - `deep page`: 50 after a cursor 90 % down the list (keyset paging: no OFFSET scan);
 * - `filtered`: reason + service (a join through expectation → invocation) + count;
 * - `groups`: every letter grouped by reason, event and service;
 * - `walk`: every letter, 1,000 per page (what `psi dead-letters --all-pages` does).
 * On SQLite (sqlite3, and better-sqlite3 when installed) and PostgreSQL (PSI_BENCH_POSTGRES_URL,
 * else PSI_DATABASE_URL, else the local server; unreachable → a skipped row).
 */
export const operationsListing: BenchEntry = {
  name: 'operations-listing',
  description:
    'operations API: pages of 100,000 dead letters (first, deep, filtered, groups, walk)',
  run: async (context) => {
    const letters = context.quick ? QUICK_LETTERS : LETTERS;
    const results: BenchResult[] = [];
    results.push(
      ...(await onStore(context, 'sqlite3', letters, {
        sqlitePath: path.join(context.tmpDir, 'listing.sqlite'),
        sqliteDriver: 'sqlite3',
      })),
    );
    if (loadBetterSqlite3()) {
      results.push(
        ...(await onStore(context, 'better-sqlite3', letters, {
          sqlitePath: path.join(context.tmpDir, 'listing-better.sqlite'),
          sqliteDriver: 'better-sqlite3',
        })),
      );
    }
    const url =
      process.env.PSI_BENCH_POSTGRES_URL ??
      process.env.PSI_DATABASE_URL ??
      'postgres://postgres@127.0.0.1:5432/postgres';
    const schema = `psi_bench_listing_${process.pid}`;
    let admin: PsiStore | undefined;
    try {
      admin = await PsiStore.open({
        url,
        schema,
        poolSize: 2,
        migrate: false,
        connectionRetryMs: 0,
      });
      results.push(...(await onStore(context, 'postgres', letters, { url, schema, poolSize: 4 })));
    } catch (error) {
      results.push(
        skippedRow(
          'ops/postgres',
          `PostgreSQL: ${error instanceof Error ? error.message : String(error)}`,
        ),
      );
    } finally {
      await admin?.dataSource
        .query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
        .catch(() => undefined);
      await admin?.close();
    }
    return results;
  },
};

async function onStore(
  context: BenchContext,
  label: string,
  letters: number,
  options: StoreOptions,
): Promise<BenchResult[]> {
  const store = await PsiStore.open(options);
  try {
    context.log(`  ${label}: writing ${letters} dead letters`);
    await fill(store, letters);
    if (store.kind === 'postgres') await store.dataSource.query('ANALYZE');
    const ops = new PsiOperations(store);
    const name = (what: string) => `ops/${label} ${letters / 1000}k letters: ${what}`;
    const rows: BenchResult[] = [];
    rows.push(
      await timed(name('first page + count'), 'page', async () => {
        await ops.deadLetters({}, { limit: 50 });
        await ops.count('dead-letters', {});
      }),
    );
    // A cursor 90 % down the list, taken by walking there once.
    let cursor: string | undefined;
    let seen = 0;
    while (seen < letters * 0.9) {
      const page = await ops.deadLetters({}, { limit: 1000, cursor });
      seen += page.items.length;
      cursor = page.nextCursor;
    }
    rows.push(
      await timed(name('page at 90 %'), 'page', () => ops.deadLetters({}, { limit: 50, cursor })),
    );
    const filter: RecordFilter = { reason: 'late', service: 'erp', status: 'open' };
    rows.push(
      await timed(name('filtered page + count'), 'page', async () => {
        await ops.deadLetters(filter, { limit: 50 });
        await ops.count('dead-letters', filter);
      }),
    );
    rows.push(await timed(name('groups'), 'query', () => ops.deadLetterGroups({}), 5));
    const started = performance.now();
    let walked = 0;
    let next: string | undefined;
    do {
      const page = await ops.deadLetters({}, { limit: 1000, cursor: next });
      walked += page.items.length;
      next = page.nextCursor;
    } while (next);
    rows.push({
      name: name('walk, 1,000 per page'),
      operations: walked,
      unit: 'letter',
      seconds: (performance.now() - started) / 1000,
      note: `${Math.ceil(walked / 1000)} pages`,
    });
    return rows;
  } finally {
    await store.close();
  }
}

/** Runs `call` `repeats` times after one warm-up; one row with p50 / p99 per call. */
async function timed(
  name: string,
  unit: string,
  call: () => Promise<unknown>,
  repeats = REPEATS,
): Promise<BenchResult> {
  await call();
  const samples: number[] = [];
  const started = performance.now();
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await call();
    samples.push(performance.now() - t);
  }
  const max = Math.max(...samples);
  return {
    name,
    operations: repeats,
    unit,
    seconds: (performance.now() - started) / 1000,
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    note: `max ${max.toFixed(1)} ms; ${max < 1000 ? 'under' : 'OVER'} 1 s`,
  };
}

/** Invocations, their expectations, and `letters` dead letters of mixed reasons, events and services. */
async function fill(store: PsiStore, letters: number): Promise<void> {
  const now = Date.now();
  const pg = store.kind === 'postgres';
  const insert = async (table: string, columns: string[], rows: unknown[][]) => {
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
      const chunk = rows.slice(i, i + ROWS_PER_INSERT);
      let n = 0;
      const values = chunk
        .map(() => `(${columns.map(() => (pg ? `$${++n}` : '?')).join(', ')})`)
        .join(', ');
      await store.transaction((tx) =>
        tx.query(
          `INSERT INTO ${table} (${columns.map((c) => `"${c}"`).join(', ')}) VALUES ${values}`,
          chunk.flat(),
        ),
      );
    }
  };
  const id = (kind: number, i: number, at: number) =>
    `${at
      .toString(16)
      .padStart(12, '0')
      .replace(
        /^(.{8})(.{4})$/,
        '$1-$2',
      )}-7${kind}${(i % 0x1000).toString(16).padStart(2, '0').slice(-2)}-8000-${i.toString(16).padStart(12, '0')}`;
  const invocations = Array.from({ length: INVOCATIONS }, (_, i) => {
    const at = now - (INVOCATIONS - i) * 1000;
    return [
      id(1, i, at),
      `instance-${i}`,
      `activation-${i}`,
      'send',
      'SendAdapter',
      SERVICES[i % SERVICES.length],
      `key-${i}`,
      'completed',
      at,
      at,
    ];
  });
  await insert(
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
    invocations,
  );
  const expectations = invocations.map((inv, i) => [
    id(2, i, Number(inv[8])),
    inv[0],
    inv[1],
    'SendAdapter',
    `event-${i % 3}`,
    'await',
    `key-${i}`,
    pg ? false : 0,
    'delivered',
    inv[8],
  ]);
  await insert(
    'psi_expectation',
    [
      'id',
      'invocationId',
      'instanceId',
      'adapter',
      'event',
      'waitState',
      'correlationKey',
      'timeoutPending',
      'status',
      'createdAt',
    ],
    expectations,
  );
  const rows = Array.from({ length: letters }, (_, i) => {
    const at = now - (letters - i) * 10;
    const owner = i % INVOCATIONS;
    return [
      id(3, i, at),
      `message-${i}`,
      `event-${owner % 3}`,
      `key-${owner}`,
      JSON.stringify({ orderNumber: `PO-${i}`, confirmationId: `C-${i}` }),
      'bench',
      REASONS[i % REASONS.length],
      `instance-${owner}`,
      expectations[owner][0],
      'open',
      at,
      at,
    ];
  });
  await insert(
    'psi_dead_letter',
    [
      'id',
      'messageId',
      'event',
      'correlationKey',
      'payload',
      'source',
      'reason',
      'instanceId',
      'expectationId',
      'status',
      'receivedAt',
      'createdAt',
    ],
    rows,
  );
}
