import 'reflect-metadata';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { InProcessTransport, type InProcessCallContext } from '@psi/adapters';
import { Coordinator, OnResponse, Input, PsiStore, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess, ReferenceEngine } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import { IsString } from 'class-validator';
import { percentile, type BenchResult } from '../report';
import { runClosedLoop, toResult } from './closed-loop';
import type { BenchContext, BenchEntry } from './entry';
import { echoService, PingAdapter, pingProcess, PingRunner } from './ping-process';
import { copyInstance, copyParked, type TemplateIds } from './scale-fill';

/**
 * PSI at a population: the store is filled (scale-fill.ts) with N open expectations of waiting
 * instances (engine state, invocation, outbox and audit rows as PSI writes them), N/10 parked
 * answers and 5N finished instances, then one node measures, beside the same figures at the
 * first population of the run (0 by default): start-up (coordinator start + `engine.restore()`
 * of the N waiting instances, and its heap peak), idle CPU of the node and of PostgreSQL,
 * receive latency by correlation key and by business key, 1,000 deadlines falling due at once
 * (time from due until the last instance took its timeout), full correlations at c=1 and c=64.
 *
 * `--populations 0,100000` (default 0,100000,1000000); PSI_BENCH_SCALE_STORES=sqlite,postgres
 * (default both); PSI_BENCH_POSTGRES_URL as for postgres-correlation; PSI_BENCH_SCALE_KEEP=1
 * keeps each populated PostgreSQL schema (psi_scale_kept_N) and reuses it in the next run.
 *
 * FINDINGS (2-core VM shared with other work, load average 7–12; the table is in README.md,
 * "At a million waiting"): filling 100k takes ~2 min on SQLite and ~4 min on PostgreSQL
 * (4.7M rows). On SQLite with its default 2 MiB page cache full correlations at 100k ran at
 * 0.4× of the empty store with 1.4× the CPU each; with the 64 MiB cache PsiStore now asks for,
 * flat. Start-up with restore of 100k: 23–32 s on SQLite, 109 s on PostgreSQL (a release per
 * instance), heap peak 51–77 MiB. PostgreSQL at 100k first measured 0.6–0.7× for correlations
 * and 5.5 s for 1,000 deadlines (load 7–12). Every statement of those paths reads the same few
 * buffers at 0 and at 100k (EXPLAIN (ANALYZE, BUFFERS), generic plans), and later runs were flat
 * (0.91–1.31×, deadlines 0.99–1.47 s): the rest was load and the fill's aftermath in the measured
 * window (~1 GiB being written back, 4.7M tuples never vacuumed: autovacuum is off on the bench
 * VM). The fill is now vacuumed, analyzed and checkpointed (`settle`) before measuring: restore
 * of 100k 33 s instead of 47–84 s, idle PostgreSQL backends 0.3 % of a core instead of 1.8–2 %.
 */
export const scale: BenchEntry = {
  name: 'scale',
  description:
    'PSI at 0, 100k, 1M open expectations (+parked, +5x history): correlation rates, receive ' +
    'latency, 1,000 due deadlines, idle CPU, start-up and restore heap',
  run: async (context) => {
    // Names this entry's PostgreSQL sessions, so their backends' CPU can be told from others'.
    process.env.PGAPPNAME = APPLICATION_NAME;
    const populations = context.populations ?? [0, 100_000, 1_000_000];
    const stores = (process.env.PSI_BENCH_SCALE_STORES ?? 'sqlite,postgres').split(',');
    const rows: BenchResult[] = [];
    for (const kind of stores) {
      const baseline = new Map<string, string>();
      for (const population of populations) {
        const measured = await measurePopulation(context, kind as StoreKind, population);
        for (const row of measured.rows) {
          // Start-up and idle rows are not rates: their figures are compared in the notes.
          if (/start-up|idle/.test(row.name)) continue;
          const label = row.name.replace(/ N=\d+$/, '');
          if (!baseline.has(label)) baseline.set(label, row.name);
          else row.baseline = baseline.get(label);
        }
        rows.push(...measured.rows);
      }
    }
    return rows;
  },
};

type StoreKind = 'sqlite' | 'postgres';

const APPLICATION_NAME = 'psi-bench-scale';

const scaleProcess = defineProcess({
  id: 'bench-scale',
  start: 'order',
  steps: {
    order: { kind: 'service', next: 'await-answer' },
    'await-answer': { kind: 'wait', transitions: { answered: 'done', timeout: 'timed-out' } },
    done: { kind: 'end' },
    'timed-out': { kind: 'end' },
  },
});

abstract class OrderDesk {
  abstract order(request: { order: string }): Promise<void>;
}

/** Answered by its correlation key or by business key (the order); times out after an hour. */
@ServiceAdapter({ step: 'order', service: 'desk' })
class ScaleAdapter {
  @Input() @IsString() order!: string;
  @UseService() desk!: OrderDesk;
  async callService(): Promise<void> {
    await this.desk.order({ order: this.order });
  }
  @OnResponse('answer', {
    waitState: 'await-answer',
    businessKey: { order: 'order' },
    timeoutMs: 3_600_000,
    timeoutTransition: 'timeout',
  })
  answered(): string {
    return 'answered';
  }
}

interface Node {
  store: PsiStore;
  engine: ReferenceEngine;
  coordinator: Coordinator;
  /** The desk's calls by order: their correlation keys. */
  calls: Map<string, InProcessCallContext>;
  close(): Promise<void>;
}

async function openNode(store: PsiStore, context: BenchContext): Promise<Node> {
  const engine = new ReferenceEngine({
    definitions: [scaleProcess, pingProcess],
    stateRepository: store.engineStates(),
    onError: (error) => context.log(`  [engine] ${String(error)}`),
  });
  const calls = new Map<string, InProcessCallContext>();
  const transport = new InProcessTransport()
    .register('echo', echoService(context.log))
    .register('desk', {
      order: (payload, call) => void calls.set((payload as { order: string }).order, call),
    });
  // Wired by hand, not with @psi/testing: the bench measures this store configuration at scale.
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({
      echo: { transport: 'in-process', address: 'echo' },
      desk: { transport: 'in-process', address: 'desk' },
    }),
    transports: [transport],
    adapters: [ScaleAdapter, PingAdapter],
    logger: {
      warn: () => undefined,
      error: (message, detail) => context.log(`  [psi] ${message} ${JSON.stringify(detail)}`),
    },
  });
  return {
    store,
    engine,
    coordinator,
    calls,
    async close() {
      await coordinator.close();
      await engine.stop();
    },
  };
}

async function measurePopulation(
  context: BenchContext,
  kind: StoreKind,
  population: number,
): Promise<{ rows: BenchResult[] }> {
  const at = `scale/${kind}`;
  const n = ` N=${population}`;
  const { store, drop, kept } = await openStore(context, kind, population);
  const rows: BenchResult[] = [];
  try {
    // Templates, then the fill.
    const first = await openNode(store, context);
    await first.coordinator.start();
    const templates = await makeTemplates(first);
    await first.close();
    const t0 = performance.now();
    if (kept && (await filledAlready(store, population))) {
      context.log(`  ${at}${n}: kept schema already filled, not filled again`);
    } else {
      const filled =
        (await copyInstance(store, templates.waiting, population, 'w', {
          deadline: (i) => `${Date.now() + 86_400_000} + CAST(${i} AS bigint)`,
        })) +
        (await copyParked(store, templates.parkedSeq, templates.parkedIds, population / 10, 'p')) +
        (await copyInstance(store, templates.finished, population * 5, 'h'));
      context.log(
        `  ${at}${n}: filled ${filled} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    }

    if (kind === 'postgres') {
      // A kept schema too: the rows of the run before.
      const t1 = performance.now();
      await settle(store);
      context.log(`  ${at}${n}: settled in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
    }
    // Start-up: coordinator start and restore of every waiting instance, heap sampled.
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    const sampler = setInterval(() => {
      heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
    }, 20);
    const started = performance.now();
    const cpuStart = process.cpuUsage();
    const node = await openNode(store, context);
    await node.coordinator.start();
    await node.engine.restore();
    await node.coordinator.idle();
    clearInterval(sampler);
    const startCpu = process.cpuUsage(cpuStart);
    rows.push({
      name: `${at} start-up + restore${n}`,
      operations: Math.max(1, population),
      unit: 'instance',
      seconds: (performance.now() - started) / 1000,
      cpuMicros: startCpu.user + startCpu.system,
      note:
        `heap peak ${mib(heapPeak)} MiB (+${mib(heapPeak - heapBefore)} over the ` +
        `${mib(heapBefore)} before); ops = instances restored`,
    });
    try {
      rows.push(await idleRow(`${at} idle node${n}`, store));
      rows.push(...(await receiveRows(node, `${at} receive by`, n, context.quick ? 50 : 200)));
      rows.push(
        await deadlineRow(node, `${at} 1000 due deadlines${n}`, context.quick ? 200 : 1000),
      );
      const runner = new PingRunner(node.engine);
      try {
        for (const concurrency of [1, 64]) {
          const loop = {
            concurrency,
            warmup: concurrency === 1 ? 30 : 256,
            operations: (concurrency === 1 ? 400 : 4000) / (context.quick ? 10 : 1),
            maxSeconds: context.quick ? 5 : 15,
          };
          let failed = 0;
          const serverBefore = await postgresCpuMicros(store);
          const measured = await runClosedLoop(loop, async (i) => {
            const id = `scale-${population}-${process.pid}-c${concurrency}-${i}`;
            if ((await runner.correlate(id)) !== 'completed') failed++;
          });
          rows.push({
            ...toResult(`${at} correlation c=${concurrency}${n}`, 'correlation', measured),
            serverCpuMicros: await serverMicros(store, serverBefore),
            note: failed > 0 ? `${failed} NOT completed` : undefined,
          });
        }
      } finally {
        runner.stop();
      }
    } finally {
      await node.close();
    }
  } finally {
    await drop();
  }
  return { rows };
}

interface Templates {
  waiting: TemplateIds;
  finished: TemplateIds;
  parkedSeq: number;
  parkedIds: string[];
}

/** One waiting instance, one finished one and one parked answer, written by PSI itself. */
async function makeTemplates(node: Node): Promise<Templates> {
  const ids = async (instanceId: string, order: string): Promise<TemplateIds> => {
    const found = (await node.store.dataSource.query(
      `SELECT "id" AS v FROM "psi_invocation" WHERE "instanceId" = '${instanceId}' UNION ALL ` +
        `SELECT "id" FROM "psi_expectation" WHERE "instanceId" = '${instanceId}' UNION ALL ` +
        `SELECT "correlationKey" FROM "psi_expectation" WHERE "instanceId" = '${instanceId}' UNION ALL ` +
        `SELECT o."id" FROM "psi_outbox" o JOIN "psi_invocation" i ON i."id" = o."invocationId" ` +
        `WHERE i."instanceId" = '${instanceId}'`,
    )) as Array<{ v: string | null }>;
    const values = found.map((r) => r.v).filter((v): v is string => !!v);
    return { instanceId, replace: [...new Set(values), order] };
  };
  const waiting = await node.engine.start(scaleProcess.id, { order: 'TEMPLATE-ORDER-W' });
  const finished = await node.engine.start(scaleProcess.id, { order: 'TEMPLATE-ORDER-F' });
  await until(() => node.calls.has('TEMPLATE-ORDER-W') && node.calls.has('TEMPLATE-ORDER-F'));
  await until(async () => (await node.engine.getInstance(finished)).currentStep === 'await-answer');
  await node.calls.get('TEMPLATE-ORDER-F')!.respond('answer', {});
  await node.engine.whenEnded(finished);
  await node.coordinator.receive({
    messageId: 'TEMPLATE-PARKED-MSG',
    event: 'answer',
    correlationKey: 'TEMPLATE-PARKED-KEY',
    payload: {},
  });
  await node.coordinator.idle();
  const [parked] = (await node.store.dataSource.query(
    `SELECT "seq" FROM "psi_parked_message" WHERE "messageId" = 'TEMPLATE-PARKED-MSG'`,
  )) as Array<{ seq: number }>;
  return {
    waiting: await ids(waiting, 'TEMPLATE-ORDER-W'),
    finished: await ids(finished, 'TEMPLATE-ORDER-F'),
    parkedSeq: Number(parked.seq),
    parkedIds: ['TEMPLATE-PARKED-MSG', 'TEMPLATE-PARKED-KEY'],
  };
}

/** Node CPU (and PostgreSQL's) over a few idle seconds, the background work running. */
async function idleRow(name: string, store: PsiStore): Promise<BenchResult> {
  const seconds = 6;
  const server = await postgresCpuMicros(store);
  const cpu = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const used = process.cpuUsage(cpu);
  const serverCpu = await serverMicros(store, server);
  const node = (used.user + used.system) / (seconds * 1e6);
  return {
    name,
    operations: 0,
    unit: 'idle s',
    seconds,
    cpuMicros: used.user + used.system,
    serverCpuMicros: serverCpu,
    note:
      `node ${(100 * node).toFixed(2)} % of a core` +
      (serverCpu === undefined
        ? ''
        : `, PostgreSQL ${((100 * serverCpu) / (seconds * 1e6)).toFixed(2)} % of a core (all backends)`),
  };
}

/** Sequential receives to fresh waiting instances, by correlation key and by business key. */
async function receiveRows(
  node: Node,
  name: string,
  n: string,
  samples: number,
): Promise<BenchResult[]> {
  const rows: BenchResult[] = [];
  for (const by of ['correlation key', 'business key'] as const) {
    const orders = await startWaiting(node, `recv-${by.split(' ')[0]}`, samples);
    const latencies: number[] = [];
    let missed = 0;
    const t0 = performance.now();
    const cpu = process.cpuUsage();
    for (const order of orders) {
      const key = node.calls.get(order)!.correlationKey;
      const start = performance.now();
      const outcome = await node.coordinator.receive(
        // A message id of its own: without one, the id derives from the content.
        by === 'correlation key'
          ? { messageId: `ck-${order}`, event: 'answer', correlationKey: key, payload: {} }
          : { messageId: `bk-${order}`, event: 'answer', businessKey: { order }, payload: {} },
      );
      latencies.push(performance.now() - start);
      if (outcome.status !== 'delivered') missed++;
    }
    const used = process.cpuUsage(cpu);
    await node.coordinator.idle();
    rows.push({
      name: `${name} ${by}${n}`,
      operations: samples,
      unit: 'receive',
      seconds: (performance.now() - t0) / 1000,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      cpuMicros: used.user + used.system,
      note: `one at a time, to instances waiting${missed > 0 ? `; ${missed} NOT delivered` : ''}`,
    });
  }
  return rows;
}

/** `count` fresh instances' deadlines set to fall due together; time until the last timed out. */
async function deadlineRow(node: Node, name: string, count: number): Promise<BenchResult> {
  const orders = await startWaiting(node, 'deadline', count);
  const instances = new Set(
    (
      (await node.store.dataSource.query(
        `SELECT "instanceId" AS id FROM "psi_expectation" WHERE "status" = 'open' AND "correlationKey" IN (${orders
          .map((o) => `'${node.calls.get(o)!.correlationKey}'`)
          .join(', ')})`,
      )) as Array<{ id: string }>
    ).map((r) => r.id),
  );
  let last = 0;
  let left = instances.size;
  let allDone!: () => void;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  const unsubscribe = node.engine.subscribe((event) => {
    if (event.type === 'instance-ended' && instances.delete(event.instanceId)) {
      last = Date.now();
      if (--left === 0) allDone();
    }
  });
  const due = Date.now() + 1_500;
  const cpu = process.cpuUsage();
  await node.store.dataSource.query(
    `UPDATE "psi_expectation" SET "deadline" = ${due} WHERE "status" = 'open' AND "correlationKey" IN (${orders
      .map((o) => `'${node.calls.get(o)!.correlationKey}'`)
      .join(', ')})`,
  );
  await done;
  unsubscribe();
  const used = process.cpuUsage(cpu);
  await node.coordinator.idle();
  return {
    name,
    operations: count,
    unit: 'timeout',
    seconds: Math.max(0.001, (last - due) / 1000),
    cpuMicros: used.user + used.system,
    note: 'seconds = from due until the last instance took its timeout (the scheduler sleeps ≤ 1 s)',
  };
}

/** Starts `count` scale instances (64 at a time) and waits until each waits for its answer. */
async function startWaiting(node: Node, tag: string, count: number): Promise<string[]> {
  const orders = Array.from({ length: count }, (_, i) => `${tag}-${i}-${Date.now()}`);
  for (let i = 0; i < orders.length; i += 64) {
    const ids = await Promise.all(
      orders.slice(i, i + 64).map((order) => node.engine.start(scaleProcess.id, { order })),
    );
    await until(async () => {
      for (const id of ids)
        if ((await node.engine.getInstance(id)).currentStep !== 'await-answer') return false;
      return true;
    });
  }
  await until(() => orders.every((o) => node.calls.has(o)));
  await node.coordinator.idle();
  return orders;
}

async function openStore(
  context: BenchContext,
  kind: StoreKind,
  population: number,
): Promise<{ store: PsiStore; drop(): Promise<void>; kept: boolean }> {
  if (kind === 'sqlite') {
    const file = path.join(context.tmpDir, `scale-${population}.sqlite`);
    const store = await PsiStore.open({ sqlitePath: file });
    return {
      store,
      kept: false,
      async drop() {
        await store.close();
        for (const suffix of ['', '-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
      },
    };
  }
  const url =
    process.env.PSI_BENCH_POSTGRES_URL ??
    process.env.PSI_DATABASE_URL ??
    'postgres://postgres@127.0.0.1:5432/postgres';
  // PSI_BENCH_SCALE_KEEP=1: a populated schema is kept for the next run (filled once).
  const kept = process.env.PSI_BENCH_SCALE_KEEP === '1' && population > 0;
  const schema = kept ? `psi_scale_kept_${population}` : `psi_scale_${process.pid}_${population}`;
  const store = await PsiStore.open({ url, schema, poolSize: 10 });
  return {
    store,
    kept,
    async drop() {
      if (!kept) await store.dataSource.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await store.close();
    },
  };
}

/**
 * After the bulk fill, the state a store that grew to this size is in: its tables vacuumed
 * (visibility map and hint bits set; a server with autovacuum off never does it) and analyzed
 * (this schema's tables only: a bare ANALYZE reads every schema of the database), and a
 * checkpoint, so that writing the fill's gigabytes out does not fall into the measurement.
 */
async function settle(store: PsiStore): Promise<void> {
  const tables = (await store.dataSource.query(
    `SELECT table_name AS name FROM information_schema.tables ` +
      `WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
  )) as Array<{ name: string }>;
  await store.dataSource.query(`VACUUM (ANALYZE) ${tables.map((t) => `"${t.name}"`).join(', ')}`);
  await store.dataSource.query('CHECKPOINT');
}

/** A kept schema holds the population's open expectations from an earlier run. */
async function filledAlready(store: PsiStore, population: number): Promise<boolean> {
  const [{ n }] = (await store.dataSource.query(
    `SELECT COUNT(*) AS n FROM "psi_expectation" WHERE "status" = 'open'`,
  )) as Array<{ n: string | number }>;
  return Number(n) >= population;
}

/**
 * CPU (user + system, µs) of this entry's PostgreSQL backends (application_name, from /proc);
 * undefined off PostgreSQL or where /proc does not show the server. The server's own
 * background processes (WAL writer, checkpointer) are not counted.
 */
async function postgresCpuMicros(store: PsiStore): Promise<number | undefined> {
  if (store.kind !== 'postgres') return undefined;
  const rows = (await store.dataSource.query(
    'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
    [APPLICATION_NAME],
  )) as Array<{ pid: number }>;
  let ticks = 0;
  for (const { pid } of rows) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    } catch {
      return undefined; // not this machine's server, or the backend ended
    }
  }
  return ticks * 10_000; // USER_HZ = 100
}

async function serverMicros(
  store: PsiStore,
  before: number | undefined,
): Promise<number | undefined> {
  const after = await postgresCpuMicros(store);
  return before === undefined || after === undefined ? undefined : Math.max(0, after - before);
}

async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('scale bench: a condition did not hold in 120 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(0);
}
