import 'reflect-metadata';
import * as fs from 'node:fs';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Coordinator, InMemoryEngineStateRepository, PsiStore } from '@psi/core';
import { InProcessTransport } from '@psi/adapters';
import { BpmnEnginePlugin } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import type { BenchResult, RowRatio } from '../report';
import { runClosedLoop, skippedRow, type ClosedLoopResult } from './closed-loop';
import type { BenchContext, BenchEntry } from './entry';
import { echoService, PingAdapter, PingRunner } from './ping-process';
import { loadBetterSqlite3 } from './better-sqlite3';

/**
 * PSI's BPMN plugin against bpmn-engine alone, measured in one run: the same BPMN flow (start →
 * service task `call` → receive task `await-answer` → end), one instance per operation.
 *
 * - `bpmn-engine alone`: `new Engine({ source })` per instance, the service task's
 *   implementation accepts at once, a listener signals the receive task on the next turn once
 *   it waits; all in memory, nothing saved. This is the baseline of the issue-17 target
 *   (through the plugin ≥ 0.9× of it).
 * - `bpmn-engine alone, parsed once`: the same with the XML parsed once and its serialized
 *   context handed to every Engine (`sourceContext`), the cheapest way to run bpmn-engine.
 * - `plugin alone`: BpmnEnginePlugin on an in-memory state repository; the driver signals the
 *   service step and the receive task (next turn) on the plugin's events. Every change is saved
 *   as JSON (bpmn-engine's state included), as with PSI's store.
 * - `PSI + plugin`: the full correlation: Coordinator + plugin + the bench's PingAdapter and
 *   in-process echo (its answer comes on the next turn, before the instance waits: parked and
 *   released), store on better-sqlite3, instance state in the store. Twice: the store on tmpfs
 *   (`/dev/shm`, or `PSI_BENCH_TMPFS`), as the peer harness measured it, so commits cost no disk
 *   flush and the row shows the engine and PSI's work; and in the entry's folder on disk with the
 *   durable default (`synchronous = FULL`: every commit waits for the disk), which at
 *   concurrency 1 measures the disk more than the engine.
 *
 * Method (as the peer harness in ../shared/peer-bench measured it): every cell is set up once and
 * kept warm; a round runs each cell once, one after the other, after its own warm-up; ratios
 * are taken within a round and their median reported (the VM is shared, so rates swing between
 * rounds while ratios and CPU per operation hold). CPU is this process's (all threads) over the
 * measured window.
 *
 * FINDINGS: see the README ("Performance, honestly") and CHANGELOG for the figures of a run.
 */
export const bpmnThroughput: BenchEntry = {
  name: 'bpmn-throughput',
  description:
    'BPMN instances per second: bpmn-engine alone vs BpmnEnginePlugin alone and the full PSI correlation through it',
  run: async (context) => {
    if (!loadBetterSqlite3()) {
      return [
        skippedRow(
          'bpmn/psi + plugin',
          'better-sqlite3 is not installed (the full-correlation rows use it)',
        ),
      ];
    }
    const cells = await setUp(context);
    try {
      return await measure(context, cells);
    } finally {
      await cells.close();
    }
  },
};

const RAW_XML = pingXml('bench-bpmn-raw', ' implementation="${environment.services.ping}"');
const PLUGIN_XML = pingXml('bench-bpmn-plugin', '');
const PSI_XML = pingXml('bench-bpmn-psi', '');

function pingXml(processId: string, implementation: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="bench-bpmn" targetNamespace="psi-bench">
  <message id="Msg_pong" name="pong" />
  <process id="${processId}" isExecutable="true">
    <startEvent id="start" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="call" />
    <serviceTask id="call"${implementation} />
    <sequenceFlow id="f2" sourceRef="call" targetRef="await-answer" />
    <receiveTask id="await-answer" messageRef="Msg_pong" />
    <sequenceFlow id="f3" sourceRef="await-answer" targetRef="end" />
    <endEvent id="end" />
  </process>
</definitions>`;
}

interface RawEngine {
  execute(options: {
    listener: EventEmitter;
    services: object;
    variables: object;
  }): Promise<unknown>;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  getDefinitions(): Promise<Array<{ environment: { options: { source: unknown } } }>>;
}
type RawEngineConstructor = new (options: object) => RawEngine;

interface Cell {
  name: string;
  /** One instance from start to end. */
  once(n: number): Promise<void>;
  /** Background work to finish before a window starts. */
  settle?(): Promise<void>;
}

interface Cells {
  raw: Cell;
  rawParsedOnce: Cell;
  plugin: Cell;
  /** The full correlation, store on tmpfs (when there is one) and on disk. */
  psi: Cell[];
  close(): Promise<void>;
}

async function setUp(context: BenchContext): Promise<Cells> {
  // bpmn-engine, loaded as the plugin loads it (it is an optional peer dependency).
  const { Engine } = createRequire(__filename)('bpmn-engine') as { Engine: RawEngineConstructor };
  const services = {
    ping: (_message: unknown, next: (e: null, r: string) => void) => next(null, 'accepted'),
  };
  const [probe] = await new Engine({ source: RAW_XML }).getDefinitions();
  const parsed = probe.environment.options.source;
  const rawOnce = async (options: object): Promise<void> => {
    const listener = new EventEmitter();
    const engine = new Engine(options);
    const ended = new Promise((resolve, reject) => {
      engine.once('end', resolve);
      engine.once('error', reject);
    });
    listener.on('wait', (api: { id: string; signal(message: unknown): void }) => {
      if (api.id === 'await-answer') setImmediate(() => api.signal({ answer: 'pong' }));
    });
    await engine.execute({ listener, services, variables: {} });
    await ended;
  };

  const plugin = new BpmnEnginePlugin({
    definitions: [PLUGIN_XML],
    stateRepository: new InMemoryEngineStateRepository(),
  });
  await plugin.ready();
  const pluginEnded = new Map<string, (outcome: string) => void>();
  const report = (error: unknown) => context.log(`  plugin signal failed: ${String(error)}`);
  plugin.subscribe((event) => {
    if (event.type === 'service-step-entered') {
      setImmediate(() => plugin.signal(event.instanceId, event.step).catch(report));
    } else if (event.type === 'wait-state-entered') {
      setImmediate(() =>
        plugin
          .signal(event.instanceId, event.waitState, { variables: { answer: 'pong' } })
          .catch(report),
      );
    } else if (event.type === 'instance-ended') pluginEnded.get(event.instanceId)?.(event.outcome);
  });

  let failures = 0;
  const expectCompleted = (outcome: string) => {
    if (outcome !== 'completed' && failures++ < 3) context.log(`  instance ${outcome}`);
  };
  // As the peer harness measured it: the store on tmpfs, so a commit costs no disk flush and the
  // row shows the plugin and PSI's work; and on the entry's folder with the durable default.
  const tmpfs = fs.existsSync(TMPFS) ? fs.mkdtempSync(path.join(TMPFS, 'psi-bpmn-')) : undefined;
  const psiOnTmpfs = tmpfs
    ? await psiCell(context, 'bpmn/psi + plugin, store on tmpfs', tmpfs, expectCompleted)
    : undefined;
  const psiOnDisk = await psiCell(
    context,
    'bpmn/psi + plugin, store on disk',
    context.tmpDir,
    expectCompleted,
  );
  return {
    raw: { name: 'bpmn/bpmn-engine alone', once: () => rawOnce({ source: RAW_XML }) },
    rawParsedOnce: {
      name: 'bpmn/bpmn-engine alone, parsed once',
      once: () => rawOnce({ sourceContext: parsed }),
    },
    plugin: {
      name: 'bpmn/plugin alone',
      once: async (n) => {
        const id = `plugin-${n}`;
        const done = new Promise<string>((resolve) => pluginEnded.set(id, resolve));
        await plugin.start('bench-bpmn-plugin', {}, { instanceId: id });
        expectCompleted(await done);
        pluginEnded.delete(id);
      },
    },
    psi: [...(psiOnTmpfs ? [psiOnTmpfs] : []), psiOnDisk],
    close: async () => {
      for (const cell of [psiOnTmpfs, psiOnDisk]) await cell?.close();
      await plugin.stop();
      if (tmpfs) fs.rmSync(tmpfs, { recursive: true, force: true });
    },
  };
}

const TMPFS = process.env.PSI_BENCH_TMPFS ?? '/dev/shm';

/** The full correlation through the plugin: coordinator, adapter, echo, better-sqlite3 store. */
async function psiCell(
  context: BenchContext,
  name: string,
  dir: string,
  expectCompleted: (outcome: string) => void,
): Promise<Cell & { close(): Promise<void> }> {
  const store = await PsiStore.open({
    sqlitePath: path.join(dir, 'bpmn-throughput.sqlite'),
    sqliteDriver: 'better-sqlite3',
  });
  const engine = new BpmnEnginePlugin({
    definitions: [PSI_XML],
    stateRepository: store.engineStates(),
  });
  // Wired by hand, not with @psi/testing: the bench measures this store and engine configuration.
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({ echo: { transport: 'in-process', address: 'echo' } }),
    transports: [new InProcessTransport().register('echo', echoService(context.log))],
    adapters: [PingAdapter],
    logger: { warn: () => undefined, error: (m, d) => context.log(`  ${m} ${JSON.stringify(d)}`) },
  });
  await coordinator.start();
  const runner = new PingRunner(engine, 'bench-bpmn-psi');
  return {
    name,
    once: async (n) => expectCompleted(await runner.correlate(`psi-${n}`)),
    settle: () => coordinator.idle(),
    close: async () => {
      runner.stop();
      await coordinator.close();
      await engine.stop();
      await store.close();
    },
  };
}

interface Totals {
  cell: Cell;
  concurrency: number;
  runs: ClosedLoopResult[];
}

async function measure(context: BenchContext, cells: Cells): Promise<BenchResult[]> {
  const rounds = context.quick ? 1 : 3;
  const seconds = context.quick ? 2 : 6;
  const plan: Array<{ cell: Cell; concurrency: number }> = [];
  for (const concurrency of [1, 64]) {
    for (const cell of [cells.raw, cells.rawParsedOnce, cells.plugin, ...cells.psi]) {
      plan.push({ cell, concurrency });
    }
  }
  const totals = new Map<string, Totals>();
  let n = 0;
  for (let round = 1; round <= rounds; round++) {
    context.log(`  round ${round}/${rounds}`);
    for (const { cell, concurrency } of plan) {
      await cell.settle?.();
      const measured = await runClosedLoop(
        {
          concurrency,
          warmup: concurrency === 1 ? 30 : 128,
          operations: Number.MAX_SAFE_INTEGER,
          maxSeconds: seconds,
        },
        () => cell.once(n++),
        { begin: () => cell.settle?.(), end: () => undefined },
      );
      const key = `${cell.name} c=${concurrency}`;
      const entry = totals.get(key) ?? { cell, concurrency, runs: [] };
      entry.runs.push(measured);
      totals.set(key, entry);
    }
  }
  const rows: BenchResult[] = [];
  for (const [name, { concurrency, runs, cell }] of totals) {
    const baseline = `${cells.raw.name} c=${concurrency}`;
    const parsedOnce = `${cells.rawParsedOnce.name} c=${concurrency}`;
    const row: BenchResult = {
      name,
      unit: 'instance',
      operations: sum(runs.map((r) => r.operations)),
      seconds: sum(runs.map((r) => r.seconds)),
      cpuMicros: sum(runs.map((r) => r.cpuMicros)),
      p50Ms: median(runs.map((r) => r.p50Ms ?? 0)),
      p99Ms: median(runs.map((r) => r.p99Ms ?? 0)),
    };
    if (cell !== cells.raw) {
      row.baseline = baseline;
      const against = (other: string): RowRatio => {
        const others = totals.get(other)!.runs;
        const perRound = runs.map((r, i) => rate(r) / rate(others[i]));
        return {
          against: other,
          value: median(perRound),
          how: "median of the rounds' ratios",
          range: [Math.min(...perRound), Math.max(...perRound)],
          cpuRatio: cpuPerOp(runs) / cpuPerOp(others),
        };
      };
      row.ratios =
        cell === cells.rawParsedOnce
          ? [against(baseline)]
          : [against(baseline), against(parsedOnce)];
      if (cell === cells.plugin || cells.psi.includes(cell)) {
        row.note = `target ≥0.9× bpmn-engine alone ${row.ratios[0].value >= 0.9 ? 'met' : 'missed'}`;
      }
    }
    rows.push(row);
  }
  return rows;
}

function cpuPerOp(runs: readonly ClosedLoopResult[]): number {
  return sum(runs.map((r) => r.cpuMicros)) / Math.max(1, sum(runs.map((r) => r.operations)));
}

function rate(result: ClosedLoopResult): number {
  return result.seconds > 0 ? result.operations / result.seconds : 0;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
