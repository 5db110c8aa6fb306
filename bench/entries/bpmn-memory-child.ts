import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import { InMemoryEngineStateRepository, PsiStore } from '@psi/core';
import { BpmnEnginePlugin } from '@psi/engines';
import { percentile } from '../report';

/**
 * The measuring side of the `bpmn-memory` entry, run in its own `node --expose-gc` process so
 * that no other entry's garbage is in its heap and full collections can be forced.
 * Usage: node --expose-gc bench/dist/entries/bpmn-memory-child.js '<BpmnMemoryParams as JSON>'
 * Prints one line `BPMN_MEMORY_REPORT {...}` (a BpmnMemoryReport) on stdout; progress on stderr.
 */

/** The smallest process that waits: start → receive task (a message catch) → end. */
export const WAITING_PROCESS_XML = `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="bench-defs" targetNamespace="psi-bench">
  <message id="Msg_order_confirmed" name="order-confirmed" />
  <process id="await-confirmation" isExecutable="true">
    <startEvent id="start" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="await-confirmation-task" />
    <receiveTask id="await-confirmation-task" messageRef="Msg_order_confirmed" />
    <sequenceFlow id="f2" sourceRef="await-confirmation-task" targetRef="end" />
    <endEvent id="end" />
  </process>
</definitions>`;

const WAIT_STATE = 'await-confirmation-task';

export const REPORT_PREFIX = 'BPMN_MEMORY_REPORT ';

export interface BpmnMemoryParams {
  /** The SQLite file PSI's store (and so the plugin's instance state) lives in. */
  sqlitePath: string;
  /** Instances started through the plugin and left waiting. */
  instances: number;
  /** Starts in flight at once. */
  concurrency: number;
  /** Waiting instances then signalled to their end (each recovers an Engine from the store). */
  signals: number;
  /** Plain bpmn-engine Engines executed and kept referenced, for comparison. */
  liveEngines: number;
}

export interface MemorySample {
  heapUsed: number;
  /** Of `heapUsed`: V8's code space (compiled and optimised code), which grows while JIT warms up. */
  codeSpace: number;
  rss: number;
  external: number;
}

export interface BpmnMemoryReport {
  gcExposed: boolean;
  instances: number;
  startSeconds: number;
  startCpuMicros: number;
  startP50Ms: number | undefined;
  startP99Ms: number | undefined;
  /** Memory after a full GC: before the starts, after them, after the signals. */
  baseline: MemorySample;
  afterStarts: MemorySample;
  afterSignals: MemorySample;
  liveEnginesAfterStarts: number;
  liveEnginesAfterSignals: number;
  /** Rows of running instances in psi_engine_instance after the starts. */
  runningInStore: number;
  stateBytesPerInstance: number;
  signals: number;
  signalSeconds: number;
  signalCpuMicros: number;
  endedBySignals: number;
  liveEngines: number;
  liveSeconds: number;
  liveCpuMicros: number;
  /** Memory after a full GC just before, and with, the live Engines. */
  beforeLive: MemorySample;
  withLive: MemorySample;
  /** Postponed activity ids of the first live Engine (proves it waits where the others do). */
  livePostponed: string[];
}

/** The part of bpmn-engine's Engine the comparison uses (its typings are ESM-only). */
interface RawEngine {
  execute(options: {
    listener: EventEmitter;
    variables?: Record<string, unknown>;
  }): Promise<{ getPostponed(): Array<{ id: string }> }>;
}
type RawEngineConstructor = new (options: { name: string; source: string }) => RawEngine;

/**
 * Memory after full collections. Several rounds with a turn of the event loop between them:
 * native handles (sqlite3 statements) are released by finalizers that run only after a GC found
 * them, and what they held is freed by the next one.
 */
async function sample(): Promise<MemorySample> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let round = 0; round < 4 && gc; round++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const usage = process.memoryUsage();
  const codeSpace =
    v8.getHeapSpaceStatistics().find((space) => space.space_name === 'code_space')
      ?.space_used_size ?? 0;
  return { heapUsed: usage.heapUsed, codeSpace, rss: usage.rss, external: usage.external };
}

function cpuMicros(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}

async function measure(params: BpmnMemoryParams): Promise<BpmnMemoryReport> {
  const log = (message: string): void => void process.stderr.write(`  ${message}\n`);

  // Warm-up on a throwaway plugin: module loading and JIT are not waiting instances.
  const warm = new BpmnEnginePlugin({
    definitions: [WAITING_PROCESS_XML],
    stateRepository: new InMemoryEngineStateRepository(),
  });
  for (let i = 0; i < 50; i++) await warm.start('await-confirmation', { orderNumber: `W-${i}` });
  await warm.stop();

  const store = await PsiStore.open({ sqlitePath: params.sqlitePath });
  // No Engine kept between signals: what a waiting instance costs once its Engine was dropped
  // (by default up to `liveEngines.max` stay live until `idleMs` passes, ~0.5 MiB each).
  const engine = new BpmnEnginePlugin({
    definitions: [WAITING_PROCESS_XML],
    stateRepository: store.engineStates(),
    liveEngines: { max: 0 },
  });
  await engine.ready();
  // Allocated before the baseline: the bench's own bookkeeping is not the plugin's memory.
  const latencies = new Float64Array(params.instances);
  const idOf = (n: number): string => `order-${n}`;
  const baseline = await sample();

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: params.concurrency }, async () => {
      while (next < params.instances) {
        const n = next++;
        const started = performance.now();
        await engine.start(
          'await-confirmation',
          { orderNumber: `PO-${n}`, quantity: n },
          { instanceId: idOf(n) },
        );
        latencies[n] = performance.now() - started;
        if ((n + 1) % 2_000 === 0) log(`${n + 1} instances waiting`);
      }
    }),
  );
  const startSeconds = (performance.now() - t0) / 1000;
  const startCpuMicros = cpuMicros(cpu0);
  const liveEnginesAfterStarts = engine.liveInstances;
  const afterStarts = await sample();

  const rows: Array<{ running: number; bytes: number }> = await store.dataSource.query(
    `SELECT COUNT(*) AS running, AVG(LENGTH(state)) AS bytes FROM psi_engine_instance
     WHERE engine = 'bpmn-engine' AND state LIKE '%"status":"running"%'`,
  );
  for (const id of [idOf(0), idOf(params.instances - 1)]) {
    const states = await engine.getWaitStates(id);
    if (states.length !== 1 || states[0] !== WAIT_STATE) {
      throw new Error(`instance ${id} waits at [${states.join(', ')}], not at ${WAIT_STATE}`);
    }
  }

  // A few answers arrive: each signal recovers an Engine from the stored state, completes the
  // receive task, saves, and lets the Engine go again.
  const every = Math.max(1, Math.floor(params.instances / Math.max(1, params.signals)));
  const signalled = Array.from({ length: Math.min(params.signals, params.instances) }, (_, i) =>
    idOf(i * every),
  );
  const cpu1 = process.cpuUsage();
  const t1 = performance.now();
  for (const id of signalled) {
    await engine.signal(id, WAIT_STATE, { variables: { confirmationId: `C-${id}` } });
  }
  const signalSeconds = (performance.now() - t1) / 1000;
  const signalCpuMicros = cpuMicros(cpu1);
  let endedBySignals = 0;
  for (const id of signalled) {
    if ((await engine.getInstance(id)).status === 'completed') endedBySignals++;
  }
  const liveEnginesAfterSignals = engine.liveInstances;
  const afterSignals = await sample();
  await engine.stop();
  await store.close();

  // The comparison: what keeping one live Engine per waiting instance would cost.
  const Engine = (createRequire(__filename)('bpmn-engine') as { Engine: RawEngineConstructor })
    .Engine;
  const kept: Array<{ getPostponed(): Array<{ id: string }> }> = [];
  const beforeLive = await sample();
  const cpu2 = process.cpuUsage();
  const t2 = performance.now();
  for (let i = 0; i < params.liveEngines; i++) {
    const raw = new Engine({ name: `live-${i}`, source: WAITING_PROCESS_XML });
    kept.push(
      await raw.execute({
        listener: new EventEmitter(),
        variables: { orderNumber: `PO-${i}`, quantity: i },
      }),
    );
  }
  const liveSeconds = (performance.now() - t2) / 1000;
  const liveCpuMicros = cpuMicros(cpu2);
  const withLive = await sample();
  const livePostponed = kept[0]?.getPostponed().map((a) => a.id) ?? [];

  return {
    gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function',
    instances: params.instances,
    startSeconds,
    startCpuMicros,
    startP50Ms: percentile(Array.from(latencies), 50),
    startP99Ms: percentile(Array.from(latencies), 99),
    baseline,
    afterStarts,
    afterSignals,
    liveEnginesAfterStarts,
    liveEnginesAfterSignals,
    runningInStore: Number(rows[0]?.running ?? 0),
    stateBytesPerInstance: Number(rows[0]?.bytes ?? 0),
    signals: signalled.length,
    signalSeconds,
    signalCpuMicros,
    endedBySignals,
    liveEngines: kept.length,
    liveSeconds,
    liveCpuMicros,
    beforeLive,
    withLive,
    livePostponed,
  };
}

if (require.main === module) {
  const params = JSON.parse(process.argv[2] ?? '{}') as BpmnMemoryParams;
  measure({ ...params, sqlitePath: path.resolve(params.sqlitePath) }).then(
    (report) => {
      process.stdout.write(`${REPORT_PREFIX}${JSON.stringify(report)}\n`);
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
