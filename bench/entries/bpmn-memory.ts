import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { BenchResult } from '../report';
import {
  REPORT_PREFIX,
  type BpmnMemoryParams,
  type BpmnMemoryReport,
  type MemorySample,
} from './bpmn-memory-child';
import type { BenchContext, BenchEntry } from './entry';
import { formatMiB } from './memory';

/**
 * Memory of waiting bpmn-engine instances: N instances of a start → receive task process are
 * started through `BpmnEnginePlugin` on PSI's SQLite store and left waiting; the heap and RSS
 * growth is measured after a forced full GC, in a child `node --expose-gc` process
 * (bpmn-memory-child.ts) so no other entry's garbage is counted. Then a few are signalled (each
 * signal recovers an Engine from the stored state and lets it go). For comparison, in the same
 * child, M plain bpmn-engine Engines run the same process to the same receive task and are kept
 * referenced: what a plugin that held one Engine per waiting instance would cost.
 *
 * N is 10,000 (`--quick`: 1,000; `PSI_BENCH_BPMN_INSTANCES` overrides it), M is 1,000 (`--quick`:
 * 100). The run is bounded by bpmn-engine's CPU per start (parse the XML into a moddle
 * registry, run the instance, `getState()`, stop), not by PSI.
 *
 * FINDINGS (2-core VM shared with other work, load average ~6, node 20, bpmn-engine 25.0.1):
 * - 10,000 waiting instances: heap +3.0 MiB after full GCs (≈0.3 KiB per instance, half of it
 *   V8's code space), RSS +6.6 MiB, 0 live Engines; 10,000 rows in psi_engine_instance of
 *   ~8.2 KiB each (bpmn-engine's `getState()` carries the serialised model). A heap snapshot diff
 *   over 2,000 starts shows only compiled code and deopt data growing: no object or string per
 *   instance stays in memory. A waiting instance lives in the store, not in the heap.
 * - Answering one (signal): ~7.6 ms CPU to recover its Engine from the stored state, complete
 *   the receive task and save; the Engine is released again (0 live after 100 signals).
 * - A live bpmn-engine Engine waiting at the same receive task holds ~670 KiB of heap (each
 *   Engine builds its own bpmn-moddle registry and smqp broker): 1,000 cost +654 MiB, so 10,000
 *   would need ~6.4 GiB, beyond node's default heap limit here (~4 GiB).
 * - Time: a start costs ~7 ms CPU inside bpmn-engine (parse the XML into a fresh moddle registry,
 *   run to the wait, `getState()`, stop): 10,000 starts took 116 s here under that load (70 s of
 *   CPU), the whole entry 133 s, far above the ~30 s aimed at; `--quick` (1,000) takes ~15 s and
 *   `PSI_BENCH_BPMN_INSTANCES` sets another count. Parsing is ~30 % of a start in a profile.
 * - Since: the plugin parses each document once (its Engines get the parsed context) and keeps
 *   an instance's Engine between signals up to `liveEngines.max`; this entry turns that off
 *   (`max: 0`) to measure waiting instances alone. A `--quick` run then: heap +0.8 KiB per
 *   waiting instance, ~6.8 KiB of state each in the store (bpmn-engine's state without the
 *   serialised model, kept as a JSON string); the plain Engines compared here still parse their
 *   XML (~674 KiB each), an Engine given the parsed context holds ~0.5 MiB.
 */
export const bpmnMemory: BenchEntry = {
  name: 'bpmn-memory',
  description: 'heap/RSS of 10,000 waiting bpmn-engine instances vs live Engine objects',
  run: async (context) => {
    const params: BpmnMemoryParams = {
      sqlitePath: path.join(context.tmpDir, 'bpmn-memory.sqlite'),
      instances: instanceCount(context),
      concurrency: 4,
      signals: context.quick ? 20 : 100,
      liveEngines: context.quick ? 100 : 1_000,
    };
    context.log(
      `  ${params.instances} waiting instances, then ${params.liveEngines} live Engines (child process, --expose-gc)`,
    );
    const report = await runChild(params, context);
    return toResults(report);
  },
};

function instanceCount(context: BenchContext): number {
  const fromEnv = Number(process.env.PSI_BENCH_BPMN_INSTANCES);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return context.quick ? 1_000 : 10_000;
}

function runChild(params: BpmnMemoryParams, context: BenchContext): Promise<BpmnMemoryReport> {
  const script = path.join(__dirname, 'bpmn-memory-child.js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', script, JSON.stringify(params)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      for (const line of chunk.split('\n').filter(Boolean)) context.log(line);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith(REPORT_PREFIX));
      if (code !== 0 || line === undefined) {
        reject(
          new Error(`bpmn-memory child failed (exit ${String(code)}): ${stderr.slice(-2000)}`),
        );
        return;
      }
      resolve(JSON.parse(line.slice(REPORT_PREFIX.length)) as BpmnMemoryReport);
    });
  });
}

function delta(after: MemorySample, before: MemorySample): MemorySample {
  return {
    heapUsed: after.heapUsed - before.heapUsed,
    codeSpace: after.codeSpace - before.codeSpace,
    rss: after.rss - before.rss,
    external: after.external - before.external,
  };
}

function formatKiB(bytes: number): string {
  return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 2 : 0)} KiB`;
}

function toResults(r: BpmnMemoryReport): BenchResult[] {
  const gcNote = r.gcExposed ? '' : ' (no --expose-gc: figures include garbage)';
  const waiting = delta(r.afterStarts, r.baseline);
  const signalled = delta(r.afterSignals, r.baseline);
  const live = delta(r.withLive, r.beforeLive);
  const perLive = r.liveEngines > 0 ? live.heapUsed / r.liveEngines : 0;
  const rows: BenchResult[] = [
    {
      name: `bpmn/start+wait n=${r.instances}`,
      operations: r.instances,
      unit: 'instance',
      seconds: r.startSeconds,
      cpuMicros: r.startCpuMicros,
      p50Ms: r.startP50Ms,
      p99Ms: r.startP99Ms,
      note:
        `heap ${signed(waiting.heapUsed)} (${formatKiB(waiting.heapUsed / r.instances)}/instance; ` +
        `JIT code ${signed(waiting.codeSpace)} of it), ` +
        `RSS ${signed(waiting.rss)}, live Engines ${r.liveEnginesAfterStarts}, ` +
        `${r.runningInStore} running in psi_engine_instance (${formatKiB(r.stateBytesPerInstance)} ` +
        `state each)${gcNote}`,
    },
    {
      name: `bpmn/signal n=${r.signals}`,
      operations: r.signals,
      unit: 'signal',
      seconds: r.signalSeconds,
      cpuMicros: r.signalCpuMicros,
      note:
        `recover from store + complete + save; ${r.endedBySignals} ended, live Engines ` +
        `${r.liveEnginesAfterSignals}; heap vs baseline ${signed(signalled.heapUsed)}`,
    },
    {
      name: `bpmn/live-engine n=${r.liveEngines}`,
      operations: r.liveEngines,
      unit: 'engine',
      seconds: r.liveSeconds,
      cpuMicros: r.liveCpuMicros,
      note:
        `kept referenced, waiting at [${r.livePostponed.join(', ')}]: heap ${signed(live.heapUsed)} ` +
        `(${formatKiB(perLive)}/Engine), RSS ${signed(live.rss)}; ` +
        `${r.instances} live would hold ≈ ${formatMiB(perLive * r.instances)} of heap${gcNote}`,
    },
  ];
  return rows;
}

function signed(bytes: number): string {
  return `${bytes < 0 ? '−' : '+'}${formatMiB(Math.abs(bytes))}`;
}
