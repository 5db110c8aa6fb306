import 'reflect-metadata';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  Coordinator,
  OnResponse,
  Output,
  PsiStore,
  ServiceAdapter,
  UseService,
  type CoordinatorStats,
} from '@psi/core';
import { InProcessTransport } from '@psi/adapters';
import { ReferenceEngine, defineProcess } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import { percentile, type BenchResult } from '../report';
import type { BenchContext, BenchEntry } from './entry';
import { RAW_PAIR_BATCHED, RAW_PAIR_C1 } from './sqlite-baseline';
import { countStatements, formatPerOperation, total, type StatementCounts } from './sql-counter';

/**
 * Full correlations on SQLite: start → service step → invoke (expectation + outbox commit) →
 * in-process dispatch → the service answers asynchronously through `context.respond` →
 * receive (dedupe, match, park or deliver) → claim → response handler → engine signal → end.
 * One correlation = one instance from `engine.start` to its `instance-ended` event.
 *
 * FINDINGS (2-core VM, node 20, sqlite3 5.1.7, WAL + synchronous=NORMAL, profiled with
 * `node --cpu-prof` and a driver-call counter; the VM was shared, load average ~7, so rates are
 * noisy — "cpu µs/op" is the steadier column):
 * - Reached ~35–50 correlations/s at c=1 and ~50–110/s at c=64, against 5,000/s targeted:
 *   50–100× short. A correlation costs ~13 ms of CPU (all threads) at c=64.
 * - fsync is not the limit: with WAL + synchronous=NORMAL a COMMIT does not fsync, so group
 *   commit (0.48 commits per correlation at c=64 vs 20 at c=1) buys only ~1.5–2×.
 * - Statements are: ~22 units of work per correlation, each wrapped in SAVEPOINT + RELEASE, so
 *   ~90 statements at c=64 (~124 at c=1, +20 BEGIN/COMMIT) for ~44 statements of real work
 *   (15 INSERT — 6 of them audit rows, 19 SELECT, 7 UPDATE, 1 DELETE). The raw baseline needs 2.
 * - Each statement costs TypeORM query building plus node-sqlite3's `Database#run/#all`, which
 *   is prepare + step + finalize = three thread-pool round trips (~50 µs raw, ~150 µs here).
 *   TypeORM also calls `sqlite3.verbose()`: every driver call then builds `new Error()` and
 *   `util.inspect`s its arguments (~11 % of CPU).
 * - Units run one after another on the single connection: the main thread idles (~45–50 % of
 *   the profile) while the worker runs a statement, and the worker idles while JS builds the next.
 * - The answer beats the wait state in 100 % of correlations (the service step is signalled only
 *   after the 'sent' and 'completed' units), so every correlation takes the park → release path.
 * - Units of one correlation: engine existence read + 3 engine-state upserts; invoke (create +
 *   audit), re-read of the invocation, count of expectations, outbox + expectations (+2 ORM
 *   read-backs of DB defaults), sent + audit, completed (count + update + audit); receive (dedupe +
 *   audit + match, +1 read-back), park + audit; release after expectations (2 read units), release
 *   on wait state (3 read units), 'released' audit, claim + delete parked, delivered (update +
 *   count + update + audit); end (cancel + parked lookup).
 *
 * SUGGESTIONS for packages/core, by gain (measured with monkey-patches, see the report):
 * 1. Do not let TypeORM turn on sqlite3's verbose mode: give the DataSource
 *    `driver: { ...sqlite3, verbose: () => sqlite3 }`-style module. Measured +30 % (c=64), +60 % (c=1).
 * 2. Pipeline a batch: run its units concurrently in the one transaction, without savepoints;
 *    if any unit fails, roll the batch back and re-run its units one by one with savepoints.
 *    JS and SQLite then overlap. Measured ~2× on top of (1). Needs a look at read-then-write
 *    units (dedupe, invoke's find-then-insert): unique keys make a loser fail, and the
 *    sequential re-run then decides it as today.
 * 3. Halve the units (~22 → ~10): pass the new invocation to `run` instead of re-reading and
 *   counting; release after expectations only when the parked UPDATE matched rows; one joined
 *   query in `releaseNow`; audit rows inside the unit they describe; `updateEntity(false)` on
 *   inserts; park inside the receive unit; INSERT … ON CONFLICT for the engine's start.
 *   Expected ~1.8×.
 * 4. better-sqlite3 (TypeORM `type: 'better-sqlite3'`, synchronous, statement cache): no
 *   thread-pool round trips and no re-prepare per statement. Expected 2–4× per statement.
 * 5. The hot path in hand-written prepared statements instead of the query builder (TypeORM's
 *   query building is ~25 % of main-thread CPU). 5,000/s on 2 cores leaves ≤ 400 µs of CPU per
 *   correlation: that needs (1)–(5) together, ~10 statements in 1–2 units per correlation.
 */
export const psiCorrelation: BenchEntry = {
  name: 'psi-correlation',
  description: 'PSI full correlations per second on SQLite, concurrency 1 and 64',
  baselines: ['sqlite-baseline'],
  run: async (context) => {
    const quick = context.quick;
    return [
      await measureCorrelations(context, {
        concurrency: 1,
        correlations: quick ? 200 : 2_000,
        maxSeconds: quick ? 5 : 20,
        warmup: 50,
      }),
      await measureCorrelations(context, {
        concurrency: 64,
        correlations: quick ? 2_000 : 20_000,
        maxSeconds: quick ? 10 : 45,
        warmup: 256,
      }),
    ];
  },
};

const benchProcess = defineProcess({
  id: 'bench-correlation',
  start: 'call',
  steps: {
    call: { kind: 'service', next: 'await-answer' },
    'await-answer': { kind: 'wait', transitions: { answered: 'done' } },
    done: { kind: 'end' },
  },
});

/** The service contract: `ping` is accepted at once, `pong` comes later. */
export abstract class EchoService {
  abstract ping(request: { n: number }): Promise<void>;
}

@ServiceAdapter({ step: 'call', service: 'echo' })
export class PingAdapter {
  @Output() answer?: string;
  @UseService() echo!: EchoService;

  async callService(): Promise<void> {
    await this.echo.ping({ n: 1 });
  }

  @OnResponse('pong', { waitState: 'await-answer' })
  pong(payload: { answer: string }): string {
    this.answer = payload.answer;
    return 'answered';
  }
}

/** One measurement: `correlations` instances, `concurrency` in flight, after `warmup` others. */
export interface CorrelationRun {
  concurrency: number;
  /** Most correlations measured (after warm-up). */
  correlations: number;
  /** No new instance is started after this many seconds; those in flight still count. */
  maxSeconds: number;
  warmup: number;
}

/** Measures one run on a fresh SQLite file in `context.tmpDir` (exported for experiments). */
export async function measureCorrelations(
  context: BenchContext,
  run: CorrelationRun,
): Promise<BenchResult> {
  const file = path.join(context.tmpDir, `psi-c${run.concurrency}.sqlite`);
  const store = await PsiStore.open({ sqlitePath: file });
  const engine = new ReferenceEngine({
    definitions: [benchProcess],
    stateRepository: store.engineStates(),
  });
  const transport = new InProcessTransport().register('echo', {
    ping: (_payload, call) => {
      setImmediate(() => {
        call.respond('pong', { answer: 'pong' }).catch((error: unknown) => {
          context.log(`respond failed: ${String(error)}`);
        });
      });
      return undefined;
    },
  });
  let warnings = 0;
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({ echo: { transport: 'in-process', address: 'echo' } }),
    transports: [transport],
    adapters: [PingAdapter],
    logger: {
      warn: () => void warnings++,
      error: (message, detail) => context.log(`[psi] ${message} ${JSON.stringify(detail)}`),
    },
  });
  await coordinator.start();

  const ended = new Map<string, (outcome: string) => void>();
  const unsubscribe = engine.subscribe((event) => {
    if (event.type === 'instance-ended') ended.get(event.instanceId)?.(event.outcome);
  });

  let nextId = 0;
  let failures = 0;
  const correlate = async (): Promise<number> => {
    const instanceId = `bench-${run.concurrency}-${nextId++}`;
    const done = new Promise<string>((resolve) => ended.set(instanceId, resolve));
    const t0 = performance.now();
    await engine.start(benchProcess.id, {}, { instanceId });
    const outcome = await done;
    ended.delete(instanceId);
    if (outcome !== 'completed') failures++;
    return performance.now() - t0;
  };
  const drive = async (count: number, latencies: number[], deadline = Infinity): Promise<void> => {
    let remaining = count;
    const worker = async (): Promise<void> => {
      while (remaining > 0 && performance.now() < deadline) {
        remaining--;
        latencies.push(await correlate());
      }
    };
    await Promise.all(Array.from({ length: Math.min(run.concurrency, count) }, worker));
  };

  try {
    await drive(run.warmup, []);
    await coordinator.idle();
    const statsBefore = coordinator.stats();
    const counts: StatementCounts = new Map();
    const uncount = countStatements(counts);
    const latencies: number[] = [];
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    try {
      await drive(run.correlations, latencies, started + run.maxSeconds * 1000);
    } finally {
      uncount();
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    await coordinator.idle();
    const stats = diff(coordinator.stats(), statsBefore);
    const n = latencies.length;
    const statements = total(counts);
    context.log(
      `  c=${run.concurrency}: statements/correlation ${(statements / n).toFixed(1)} — ` +
        formatPerOperation(counts, n),
    );
    context.log(
      `  c=${run.concurrency}: delivered ${stats.delivered}, parked ${stats.parked}, ` +
        `dead-lettered ${stats.deadLettered}, duplicates ${stats.duplicates}, warnings ${warnings}`,
    );
    const commits = counts.get('BEGIN') ?? 0;
    const units = counts.get('SAVEPOINT') ?? 0;
    return {
      name: `psi/correlation c=${run.concurrency}`,
      operations: n,
      unit: 'correlation',
      seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      baseline: run.concurrency === 1 ? RAW_PAIR_C1 : RAW_PAIR_BATCHED,
      cpuMicros: cpu.user + cpu.system,
      note:
        `${(statements / n).toFixed(0)} stmts, ${(units / n).toFixed(1)} units, ` +
        `${(commits / n).toFixed(2)} commits per corr; ` +
        `parked ${Math.round((100 * stats.parked) / n)}%` +
        (failures > 0 ? `; ${failures} NOT completed` : ''),
    };
  } finally {
    unsubscribe();
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
