import 'reflect-metadata';
import * as path from 'node:path';
import {
  Coordinator,
  PsiStore,
  type CoordinatorStats,
  type ObservabilityOptions,
  type SqliteDriverName,
  type SqliteDurability,
} from '@psi/core';
import { InProcessTransport } from '@psi/adapters';
import { ReferenceEngine } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import type { BenchResult } from '../report';
import { runClosedLoop, skippedRow, statementWindow, toResult } from './closed-loop';
import type { BenchContext, BenchEntry } from './entry';
import {
  echoService,
  echoWhenWaitingService,
  PingAdapter,
  pingProcess,
  PingRunner,
  PingWhenWaitingAdapter,
  pingWhenWaitingProcess,
} from './ping-process';
import { loadBetterSqlite3 } from './better-sqlite3';
import {
  RAW_BETTER_PAIR_BATCHED,
  RAW_BETTER_PAIR_C1,
  RAW_PAIR_BATCHED,
  RAW_PAIR_C1,
} from './sqlite-baseline';

/**
 * Full correlations on SQLite: start → service step → invoke (expectation + outbox commit) →
 * in-process dispatch → the service answers asynchronously through `context.respond` →
 * receive (dedupe, match, park or deliver) → claim → response handler → engine signal → end.
 * One correlation = one instance from `engine.start` to its `instance-ended` event.
 *
 * The store runs with its default durability (synchronous = FULL) except in the row named
 * `synchronous=NORMAL` (see StoreOptions.durability). Findings before that default changed were
 * measured with NORMAL.
 *
 * FINDINGS (2-core VM, node 20, sqlite3 5.1.7, WAL + synchronous=NORMAL; the VM is shared with
 * other work, so compare ratios and "cpu µs/op" rather than absolute rates):
 * - Session 1: ~35/s at c=1, ~70–85/s at c=64 (~90 statements in ~23 units per correlation, each
 *   unit in a SAVEPOINT, every statement prepared and finalized anew).
 * - Session 2: 95–130/s and 210–290/s (71 and 32 statements): prepared statements kept by the
 *   driver with numbers bound, no savepoints unless a unit fails, audit rows written in a few
 *   multi-row INSERTs per commit, no read-backs after INSERT.
 * - Now, through sqlite3: 240–260/s at c=1 and 600–720/s at c=64 (≈0.04× the raw rows of the
 *   same run), 61 and 27 statements, CPU per correlation ~3.4 ms and ~1.3 ms (from ~5.8 and ~2.5):
 *   1. The hot path runs compiled row statements (packages/core/src/store/row-statements.ts)
 *      instead of TypeORM's query builder, which spent about as much main-thread time building,
 *      aliasing and escaping each statement as SQLite spent running it (~35 % of the main
 *      thread in the profile, now < 1 %).
 *   2. A release reads timeouts, parked answers and their expectations in one unit, and records
 *      `released` in the claim's unit (18 → 14 units per correlation at c=1).
 *   3. The release after recording expectations runs only when parked answers were adopted; a
 *      new invocation is one INSERT … ON CONFLICT DO NOTHING instead of SELECT + INSERT.
 * - Why sqlite3 cannot reach 5,000/s: the main thread is idle ~75 % of the time at c=64. Units
 *   run one after another on SQLite's single connection, and every statement is a round trip to
 *   sqlite3's worker thread (~50 µs each here, ~33 µs for the raw pair's simple statements): 27
 *   statements in series ≈ 1.4 ms per correlation whatever the CPU does. 5,000/s leaves 200 µs.
 * - Through better-sqlite3 (`sqliteDriver: 'better-sqlite3'`, the rows named so): ~1,150–1,430/s
 *   at c=1 and ~3,700–4,300/s at c=64, 26 statements and 0.16 commits per correlation, ~0.24 ms
 *   CPU each. Checkpointing the WAL every 10,000 pages instead of 1,000 gave +15 % here (the
 *   hot pages are copied once per checkpoint, not once per 1,000 pages); time-ordered ids
 *   (UUID v7) for invocations, expectations, dead letters and correlation keys gave +26 % (+6 %
 *   on sqlite3): random v4 keys put every insert on a random page of each index, so every
 *   commit wrote many more pages. Waiting two or three turns before a batch instead of one gave
 *   nothing measurable.
 *   Two things were needed besides the executor: the group-commit runner waits one turn of the
 *   event loop before each batch (a synchronous driver never yields, so batches held one unit:
 *   14 commits per correlation and ~1,200/s), and statements are prepared once per database.
 *   The main thread is now the limit: in the profile ~23 % goes to BEGIN/COMMIT (the WAL
 *   writes of each commit, ~0.5 ms per batch), ~20 % to the statements, the rest to PSI, the
 *   engine, TypeORM's transaction handling and GC. 5,000/s would need the commits off the main
 *   thread or larger batches, and the JS per correlation shrunk by about a third.
 * - Still open:
 *   a. The default driver: the required stack names sqlite3, so better-sqlite3 stays opt-in
 *      until the project decides otherwise.
 *   b. Overlapping units inside a group commit (sqlite3), so that round trips overlap. Units
 *      are serialisable today; overlapping read-then-write units (e.g. "no expectation → park"
 *      against "record expectation → adopt parked") would need their own key locks, as
 *      PostgreSQL now has (store/answer-locks.ts), for every such pair. Not worth the risk to
 *      the correlation guarantees for the ~2× it could give on sqlite3.
 * - Session 4: partial business-key and deadline indexes (+2–6 % on better-sqlite3). This VM ran
 *   every row 2–3× slower than the one above, raw baselines included (better-sqlite3 c=64
 *   ~1,950/s at ~530 µs CPU per correlation; sqlite3 c=64 ~260/s, still ≈0.04× its raw rows), so
 *   compare ratios and statement counts across sessions, not rates.
 * - Session 8 (issue 17), statement and commit counters per correlation (c=1 / c=64): group
 *   commit gathers one event-loop turn before each batch on every driver (sqlite3 c=1: 15 → 10
 *   commits, 66 → 54 statements), engine states are one multi-row upsert per batch, and an
 *   invocation completes with one conditional UPDATE: sqlite3 53 / 25.4, better-sqlite3 53 /
 *   25.1 statements (from 66 / 29.4 and 54 / 29.0). The rest at c=64 is each unit's own reads
 *   and conditional updates; README "Statements and commits per correlation" has the table.
 * - Two kinds of rows. The `c=1`/`c=64` rows take the park → release path: the in-process echo
 *   answers on the next turn of the event loop, before the engine has moved the instance to its
 *   wait state, so every answer is parked and then released (26–27 statements). The "answer when
 *   waiting" rows answer once the engine reports the instance at the wait state, as a remote
 *   service whose answer takes longer than the step does: register → response → claim →
 *   handler → signal with no parking (22–23 statements; +14 % on sqlite3, +20 % on
 *   better-sqlite3 in the same run). Both are reported; neither reaches 5,000/s on this VM.
 */
export const psiCorrelation: BenchEntry = {
  name: 'psi-correlation',
  description:
    'PSI full correlations per second on SQLite (sqlite3, and better-sqlite3), concurrency 1 and 64; ' +
    'answers parked and released, and answers to instances already waiting',
  baselines: ['sqlite-baseline'],
  run: async (context) => {
    const quick = context.quick;
    const rows: BenchResult[] = [];
    for (const sqliteDriver of ['sqlite3', 'better-sqlite3'] as const) {
      if (sqliteDriver === 'better-sqlite3' && !loadBetterSqlite3()) {
        rows.push(skippedRow('psi/correlation better-sqlite3', 'better-sqlite3 is not installed'));
        continue;
      }
      const concurrent = {
        concurrency: 64,
        correlations: quick ? 2_000 : 20_000,
        maxSeconds: quick ? 10 : 45,
        warmup: 256,
      };
      const runs: Array<Omit<CorrelationRun, 'sqliteDriver'>> = [
        {
          concurrency: 1,
          correlations: quick ? 200 : 2_000,
          maxSeconds: quick ? 5 : 20,
          warmup: 50,
        },
        concurrent,
        { ...concurrent, answer: 'when-waiting' },
        // The durable default (FULL) against what a power loss may roll back (NORMAL).
        { ...concurrent, durability: 'normal' },
      ];
      for (const run of runs)
        rows.push(await measureCorrelations(context, { sqliteDriver, ...run }));
    }
    return rows;
  },
};

/** One measurement: `correlations` instances, `concurrency` in flight, after `warmup` others. */
export interface CorrelationRun {
  /** PsiStore's SQLite driver. */
  sqliteDriver: SqliteDriverName;
  /**
   * When the service answers: `early`, on the next turn of the event loop, before the instance
   * reaches its wait state (the answer is parked, then released); `when-waiting`, once the
   * engine reports the instance at the wait state (delivered at once, as a slower remote
   * service's answer is). Default `early`.
   */
  answer?: 'early' | 'when-waiting';
  /** PsiStore's `durability` (SQLite synchronous). Default: the store's default, `full`. */
  durability?: SqliteDurability;
  concurrency: number;
  /** Most correlations measured (after warm-up). */
  correlations: number;
  /** No new instance is started after this many seconds; those in flight still count. */
  maxSeconds: number;
  warmup: number;
  /** OpenTelemetry providers for the coordinator. Default: none (the API's no-ops). */
  observability?: ObservabilityOptions;
  /** Added to the row's name and the store file's (runs that repeat a setting). */
  tag?: string;
}

/** Measures one run on a fresh SQLite file in `context.tmpDir` (exported for experiments). */
export async function measureCorrelations(
  context: BenchContext,
  run: CorrelationRun,
): Promise<BenchResult> {
  const answer = run.answer ?? 'early';
  const file = path.join(
    context.tmpDir,
    `psi-${run.sqliteDriver}-${answer}-c${run.concurrency}-${run.durability ?? 'full'}` +
      `${run.tag ? `-${run.tag.replace(/\W+/g, '-')}` : ''}.sqlite`,
  );
  const store = await PsiStore.open({
    sqlitePath: file,
    sqliteDriver: run.sqliteDriver,
    durability: run.durability,
  });
  const better = run.sqliteDriver === 'better-sqlite3';
  const whenWaiting = answer === 'when-waiting';
  const label =
    `${better ? 'better-sqlite3 ' : ''}${whenWaiting ? 'answer when waiting ' : ''}` +
    `${run.durability === 'normal' ? 'synchronous=NORMAL ' : ''}c=${run.concurrency}` +
    (run.tag ? ` ${run.tag}` : '');
  const engine = new ReferenceEngine({
    definitions: [whenWaiting ? pingWhenWaitingProcess : pingProcess],
    stateRepository: store.engineStates(),
  });
  const echoWhenWaiting = whenWaiting ? echoWhenWaitingService(engine, context.log) : undefined;
  const transport = new InProcessTransport().register(
    'echo',
    echoWhenWaiting?.service ?? echoService(context.log),
  );
  let warnings = 0;
  // Wired by hand, not with @psi/testing: the bench measures this store configuration.
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({ echo: { transport: 'in-process', address: 'echo' } }),
    transports: [transport],
    adapters: [whenWaiting ? PingWhenWaitingAdapter : PingAdapter],
    observability: run.observability,
    logger: {
      warn: () => void warnings++,
      error: (message, detail) => context.log(`[psi] ${message} ${JSON.stringify(detail)}`),
    },
  });
  await coordinator.start();

  const runner = new PingRunner(engine, whenWaiting ? pingWhenWaitingProcess.id : pingProcess.id);
  let failures = 0;
  const correlate = async (n: number): Promise<void> => {
    if ((await runner.correlate(`bench-${run.concurrency}-${n}`)) !== 'completed') failures++;
  };

  try {
    const statsBefore = { ...coordinator.stats() };
    const statements = statementWindow();
    const window = {
      begin: async () => {
        await coordinator.idle(); // warm-up answers still being counted
        Object.assign(statsBefore, coordinator.stats());
        statements.begin();
      },
      end: () => statements.end(),
    };
    const measured = await runClosedLoop(
      {
        concurrency: run.concurrency,
        warmup: run.warmup,
        operations: run.correlations,
        maxSeconds: run.maxSeconds,
      },
      correlate,
      window,
    );
    await coordinator.idle();
    const stats = diff(coordinator.stats(), statsBefore);
    const n = measured.operations;
    context.log(`  ${label}: statements/correlation — ${statements.breakdown(n)}`);
    context.log(
      `  ${label}: delivered ${stats.delivered}, parked ${stats.parked}, ` +
        `dead-lettered ${stats.deadLettered}, duplicates ${stats.duplicates}, warnings ${warnings}`,
    );
    const baselines = better
      ? [RAW_BETTER_PAIR_C1, RAW_BETTER_PAIR_BATCHED]
      : [RAW_PAIR_C1, RAW_PAIR_BATCHED];
    return toResult(`psi/correlation ${label}`, 'correlation', measured, {
      baseline: run.concurrency === 1 ? baselines[0] : baselines[1],
      ...statements.counts(n),
      note:
        `${statements.perOperation(n)}; parked ${Math.round((100 * stats.parked) / n)}%` +
        (failures > 0 ? `; ${failures} NOT completed` : ''),
    });
  } finally {
    runner.stop();
    echoWhenWaiting?.stop();
    await coordinator.close();
    await engine.stop();
    await store.close();
  }
}

function diff(after: CoordinatorStats, before: CoordinatorStats): CoordinatorStats {
  const result = { ...after };
  for (const key of Object.keys(result) as Array<keyof CoordinatorStats>) {
    result[key] = after[key] - before[key];
  }
  return result;
}
