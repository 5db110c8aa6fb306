/** One row of the benchmark table. */
export interface BenchResult {
  /** Unique within a run, e.g. `psi/correlation c=64`. */
  name: string;
  /** Operations completed in the measured window (pairs, correlations, ...). */
  operations: number;
  /** What one operation is, for the unit column: "pair", "correlation", "instance". */
  unit: string;
  /** Wall-clock seconds of the measured window (warm-up excluded). */
  seconds: number;
  /** Per-operation latency in ms, when one operation has a meaningful latency. */
  p50Ms?: number;
  p99Ms?: number;
  /** CPU time (user + system, all threads) this process spent in the measured window. */
  cpuMicros?: number;
  /** Name of the row (measured in the same run) this one's ops/s is divided by. */
  baseline?: string;
  /** Free-form context: statements per operation, RSS, batch size, ... */
  note?: string;
}

/** Latency percentile (nearest rank) of `samples` in ms; `samples` need not be sorted. */
export function percentile(samples: readonly number[], p: number): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function opsPerSecond(result: BenchResult): number {
  return result.seconds > 0 ? result.operations / result.seconds : 0;
}

/** Formats `results` as a fixed-width table; ratios refer to baselines found among `results`. */
export function formatTable(results: readonly BenchResult[]): string {
  const byName = new Map(results.map((r) => [r.name, r]));
  const header = [
    'entry',
    'ops',
    'unit',
    'seconds',
    'ops/s',
    'p50 ms',
    'p99 ms',
    'cpu µs/op',
    'ratio',
    'note',
  ];
  const rows = results.map((r) => {
    const base = r.baseline ? byName.get(r.baseline) : undefined;
    const ratio = base && opsPerSecond(base) > 0 ? opsPerSecond(r) / opsPerSecond(base) : undefined;
    return [
      r.name,
      String(r.operations),
      r.unit,
      r.seconds.toFixed(2),
      formatRate(opsPerSecond(r)),
      formatMs(r.p50Ms),
      formatMs(r.p99Ms),
      r.cpuMicros === undefined
        ? '—'
        : Math.round(r.cpuMicros / r.operations).toLocaleString('en-US'),
      ratio === undefined ? '—' : `${ratio.toFixed(3)}× ${r.baseline ?? ''}`,
      r.note ?? '',
    ];
  });
  const numeric = new Set([1, 3, 4, 5, 6, 7]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function formatRate(rate: number): string {
  return rate >= 100 ? Math.round(rate).toLocaleString('en-US') : rate.toFixed(1);
}

function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '—';
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}
