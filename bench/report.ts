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
  /** CPU time of the server processes the operations ran on (database backends, a server). */
  serverCpuMicros?: number;
  /** Statements sent to the database per operation, counted at the driver. */
  statementsPerOp?: number;
  /** Transactions per operation, counted at the driver (BEGIN/START, or an autocommit statement). */
  commitsPerOp?: number;
  /** Name of the row (measured in the same run) this one's ops/s is divided by. */
  baseline?: string;
  /** Ratios measured otherwise than against `baseline` (e.g. per round); shown instead of it. */
  ratios?: readonly RowRatio[];
  /** Free-form context: statements per operation, RSS, batch size, ... */
  note?: string;
}

/** This row's ops/s divided by another row's. */
export interface RowRatio {
  /** The row divided by. */
  against: string;
  value: number;
  /** How it was taken, e.g. "median of the rounds' ratios". */
  how?: string;
  /** Lowest and highest of the values it is the median of. */
  range?: readonly [number, number];
  /** CPU per operation (client + server), this row's over the other's. */
  cpuRatio?: number;
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

/** The ratios a row reports: its own `ratios`, else its ops/s over its baseline's in this run. */
export function rowRatios(
  result: BenchResult,
  byName: ReadonlyMap<string, BenchResult>,
): readonly RowRatio[] {
  if (result.ratios) return result.ratios;
  const base = result.baseline ? byName.get(result.baseline) : undefined;
  if (!base || opsPerSecond(base) <= 0) return [];
  return [{ against: base.name, value: opsPerSecond(result) / opsPerSecond(base) }];
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
    const ratios = rowRatios(r, byName);
    return [
      r.name,
      String(r.operations),
      r.unit,
      r.seconds.toFixed(2),
      formatRate(opsPerSecond(r)),
      formatMs(r.p50Ms),
      formatMs(r.p99Ms),
      formatCpu(r),
      ratios.length === 0
        ? '—'
        : ratios
            .map((x) =>
              r.ratios
                ? `${x.value.toFixed(2)}× ${withoutCommonEnd(x.against, r.name)}`
                : `${x.value.toFixed(3)}× ${x.against}`,
            )
            .join('; '),
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

/** `name` without the words it ends with in common with `row` ("dbos pg c=1" → "dbos"). */
function withoutCommonEnd(name: string, row: string): string {
  const words = name.split(' ');
  const other = row.split(' ');
  let keep = words.length;
  while (keep > 1 && words[keep - 1] === other[other.length - words.length + keep - 1]) keep--;
  return words.slice(0, keep).join(' ');
}

/** This process's CPU per operation, and the server's after a "+" when it was measured. */
function formatCpu(r: BenchResult): string {
  const per = (micros: number | undefined): string =>
    micros === undefined || r.operations === 0
      ? '—'
      : Math.round(micros / r.operations).toLocaleString('en-US');
  if (r.cpuMicros === undefined) return '—';
  return r.serverCpuMicros === undefined
    ? per(r.cpuMicros)
    : `${per(r.cpuMicros)} + ${per(r.serverCpuMicros)}`;
}

/** One row as `--json` writes it: per-operation figures, ratios with what they are against. */
export interface BenchJsonRow {
  name: string;
  unit: string;
  operations: number;
  seconds: number;
  opsPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** This (the client's) process, all threads. */
  clientCpuMicrosPerOp: number | null;
  /** The server processes, when the row measured them. */
  serverCpuMicrosPerOp: number | null;
  statementsPerOp: number | null;
  commitsPerOp: number | null;
  ratios: ReadonlyArray<RowRatio>;
  note: string | null;
  /** No operations: the row says why in `note`. */
  skipped: boolean;
}

export function toJsonRows(results: readonly BenchResult[]): BenchJsonRow[] {
  const byName = new Map(results.map((r) => [r.name, r]));
  const per = (micros: number | undefined, r: BenchResult): number | null =>
    micros === undefined || r.operations === 0 ? null : micros / r.operations;
  return results.map((r) => ({
    name: r.name,
    unit: r.unit,
    operations: r.operations,
    seconds: r.seconds,
    opsPerSecond: opsPerSecond(r),
    p50Ms: r.p50Ms ?? null,
    p99Ms: r.p99Ms ?? null,
    clientCpuMicrosPerOp: per(r.cpuMicros, r),
    serverCpuMicrosPerOp: per(r.serverCpuMicros, r),
    statementsPerOp: r.statementsPerOp ?? null,
    commitsPerOp: r.commitsPerOp ?? null,
    ratios: rowRatios(r, byName).map((x) => ({ how: 'ops/s ÷ ops/s, same run', ...x })),
    note: r.note ?? null,
    skipped: r.operations === 0,
  }));
}

function formatRate(rate: number): string {
  return rate >= 100 ? Math.round(rate).toLocaleString('en-US') : rate.toFixed(1);
}

function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '—';
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}
