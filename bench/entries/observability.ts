import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import {
  BatchSpanProcessor,
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import type { BenchResult } from '../report';
import { skippedRow } from './closed-loop';
import type { BenchEntry } from './entry';
import { loadBetterSqlite3 } from './better-sqlite3';
import { measureCorrelations, type CorrelationRun } from './psi-correlation';

/** Rounds of off/on pairs; the ratio reported is the median of the rounds' ratios. */
const ROUNDS = 5;

/**
 * CPU per correlation with tracing and metrics on against off, in the same run (issue 18; target
 * ≤ 10 % more). "On" installs the OpenTelemetry SDK the way an application would: a
 * BasicTracerProvider with a BatchSpanProcessor into an in-memory exporter (no network, so
 * what is measured is PSI's instrumentation and the SDK's span handling, not an exporter's
 * I/O) and a MeterProvider with a periodic reader (every second, which also reads the store
 * gauges: at most once per 5 s). "Off" passes nothing: the API's no-op providers.
 *
 * The correlation is psi-correlation's c=64 park → release run (6 spans per correlation: invoke,
 * send, receive, park, release, deliver), on better-sqlite3 when installed (the fastest path, so
 * the one where instrumentation weighs most), else sqlite3. Off and on alternate within each
 * round, so drift of a shared machine falls on both.
 *
 * A second "on" run per round hands the batches to an exporter that counts them and lets them
 * go, as a network exporter does once it has sent them: the in-memory exporter keeps every span
 * of the round (48,000), and collecting that growing heap is a cost of the bench, not of
 * tracing. Both ratios are reported.
 *
 * FINDINGS (2-core VM, node 20, better-sqlite3, 5 rounds of 8,000): at load 9–12, off ~950–1,050
 * µs per correlation, on (keeping every span) ~1,060–1,150 µs, median ×1.094; on a quiet VM
 * ×1.155 (range ×1.035–×1.193), of which the profile put ~30 µs per correlation in the garbage
 * collector. With the dropping exporter beside it, at load ~2.5 (the scale bench running):
 * ×1.193 keeping every span, ×1.187 letting batches go (ranges ×1.04–×1.26 and ×0.89–×1.29):
 * the target is missed either way; the spread is the machine's. Statements per correlation do
 * not change: the trace context is two more columns in INSERTs already made.
 *
 * Where the extra CPU goes (session 9, load 9–12): `Instrumentation` alone, driven through one
 * park → release correlation in a loop with the SDK (an exporter that lets batches go), ~43 µs
 * per correlation, of which the SDK making the same six spans and nine metric records directly
 * takes ~24 µs (the SDK reads each span's attributes three times: two sanitising copies and
 * setAttributes; every metric record hashes its attribute set). With the in-memory exporter
 * keeping every span the loop costs ~95 µs: the rest is collecting a heap the kept spans grow.
 * So most of the ~150 µs is the SDK's, not PSI's. PSI's share was cut (metric attribute sets
 * once per key, stored trace contexts remembered parsed, no empty link arrays, one parent context
 * per release): ~43 → ~38 µs in the loop, alternating old and new code in one process, both
 * orders. End to end it is inside the noise: interleaved runs (5 processes each side, 3 rounds
 * of 4,000) gave a median ratio of ×1.263 before and ×1.195 after over the warm rounds, ranges
 * ×1.09–×1.47 and ×0.98–×1.62; this entry's own run after the change: ×1.233 (range ×1.104–
 * ×1.331), ×1.207 letting batches go. The target is still missed; reaching it without dropping
 * spans, attributes or metrics would need a cheaper SDK path (fewer attribute passes, bound
 * metric attribute sets), not more work in PSI.
 */
export const observability: BenchEntry = {
  name: 'observability',
  description:
    'CPU per correlation with OpenTelemetry tracing + metrics on (SDK, batch exporter to memory) against off',
  run: async (context) => {
    const rows: BenchResult[] = [];
    const sqliteDriver = loadBetterSqlite3() ? 'better-sqlite3' : 'sqlite3';
    const base: CorrelationRun = {
      sqliteDriver,
      concurrency: 64,
      correlations: context.quick ? 1_000 : 8_000,
      maxSeconds: context.quick ? 8 : 30,
      warmup: 256,
    };
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    const droppingCpuRatios: number[] = [];
    let spans = 0;
    let lastOn: BenchResult | undefined;
    let lastOff: BenchResult | undefined;
    for (let round = 1; round <= ROUNDS; round++) {
      const off = await measureCorrelations(context, { ...base, tag: `off r${round}` });
      const exporter = new InMemorySpanExporter();
      const tracerProvider = new BasicTracerProvider({
        spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 65_536 })],
      });
      const meterProvider = new MeterProvider({
        readers: [
          new PeriodicExportingMetricReader({
            exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
            exportIntervalMillis: 1_000,
          }),
        ],
      });
      const on = await measureCorrelations(context, {
        ...base,
        observability: { tracerProvider, meterProvider },
        tag: `tracing+metrics r${round}`,
      });
      await tracerProvider.forceFlush();
      spans = exporter.getFinishedSpans().length;
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
      const dropping = await measureWith(context, base, round, new CountingSpanExporter());
      const perOp = (row: BenchResult): number => (row.cpuMicros ?? 0) / row.operations;
      const opsPerSecond = (row: BenchResult): number => row.operations / row.seconds;
      ratios.push(opsPerSecond(on) / opsPerSecond(off));
      cpuRatios.push(perOp(on) / perOp(off));
      droppingCpuRatios.push(perOp(dropping) / perOp(off));
      context.log(
        `  observability r${round}: cpu µs/correlation off ${perOp(off).toFixed(0)}, ` +
          `on ${perOp(on).toFixed(0)} (${spans} spans exported)`,
      );
      rows.push(off, on, dropping);
      lastOn = on;
      lastOff = off;
    }
    if (!lastOn || !lastOff) return [skippedRow('psi/observability', 'no rounds ran')];
    const cpu = median(cpuRatios);
    lastOn.ratios = [
      {
        against: lastOff.name,
        value: median(ratios),
        how: `median of ${ROUNDS} rounds' ratios (throughput); cpuRatio: CPU per correlation`,
        range: [Math.min(...cpuRatios), Math.max(...cpuRatios)],
        cpuRatio: cpu,
      },
    ];
    lastOn.note =
      `CPU per correlation ×${cpu.toFixed(3)} with tracing+metrics (median of ${ROUNDS}; ` +
      `range ${Math.min(...cpuRatios).toFixed(3)}–${Math.max(...cpuRatios).toFixed(3)}); ` +
      `target ≤ ×1.10 ${cpu <= 1.1 ? 'met' : 'missed'}`;
    const dropped = median(droppingCpuRatios);
    const lastDropping = rows[rows.length - 1];
    lastDropping.note =
      `CPU per correlation ×${dropped.toFixed(3)} with tracing+metrics, batches let go after ` +
      `export (median of ${ROUNDS}; range ${Math.min(...droppingCpuRatios).toFixed(3)}–` +
      `${Math.max(...droppingCpuRatios).toFixed(3)})`;
    return rows;
  },
};

/** One "on" run whose span batches go to `exporter`, metrics as in the main "on" run. */
async function measureWith(
  context: Parameters<BenchEntry['run']>[0],
  base: CorrelationRun,
  round: number,
  exporter: SpanExporter,
): Promise<BenchResult> {
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 65_536 })],
  });
  const meterProvider = new MeterProvider({
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
        exportIntervalMillis: 1_000,
      }),
    ],
  });
  try {
    return await measureCorrelations(context, {
      ...base,
      observability: { tracerProvider, meterProvider },
      tag: `tracing+metrics, batches let go r${round}`,
    });
  } finally {
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  }
}

/** Counts the spans of each batch and keeps none, as an exporter that sent them does. */
class CountingSpanExporter implements SpanExporter {
  spans = 0;
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.spans += spans.length;
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
