import type { BenchResult, RowRatio } from '../../report';
import { skippedRow } from '../closed-loop';
import type { CellResult } from './cell';

/** A planned cell, as the rows need it. */
export interface RowCell {
  name: string;
  unit: string;
  /** For a peer's cell: the PSI row of the same answer and concurrency. */
  psiRow?: string;
}

/**
 * Turns the rounds into one row per cell: operations, seconds and CPU summed over the rounds (so
 * ops/s and CPU per operation are over all of them), p50/p99 the median of the rounds', and on
 * each PSI row its ratio to every peer row of the same answer and concurrency, taken round by
 * round (neighbours in time) and reported as the median. `rounds.get(name)[i]` is round i's
 * result, undefined when that cell did not run; `skipped.get(name)` says why.
 */
export function peerRows(
  cells: readonly RowCell[],
  rounds: ReadonlyMap<string, ReadonlyArray<CellResult | undefined>>,
  notes: ReadonlyMap<string, string>,
): BenchResult[] {
  return cells.map((cell) => {
    const results = rounds.get(cell.name) ?? [];
    const done = results.filter((r): r is CellResult => r !== undefined);
    if (done.length === 0) return skippedRow(cell.name, notes.get(cell.name) ?? 'did not run');
    const sum = (pick: (r: CellResult) => number | undefined): number | undefined =>
      done.some((r) => pick(r) === undefined)
        ? undefined
        : done.reduce((total, r) => total + (pick(r) ?? 0), 0);
    const operations = sum((r) => r.operations) ?? 0;
    const statements = sum((r) => r.statements);
    const transactions = sum((r) => r.transactions);
    const row: BenchResult = {
      name: cell.name,
      unit: cell.unit,
      operations,
      seconds: sum((r) => r.seconds) ?? 0,
      p50Ms: median(done.map((r) => r.p50Ms)),
      p99Ms: median(done.map((r) => r.p99Ms)),
      cpuMicros: sum((r) => r.cpuMicros),
      serverCpuMicros: sum((r) => r.serverCpuMicros),
      // A driver that counted nothing was not the one the system used: no figure rather than 0.
      statementsPerOp: statements && operations ? statements / operations : undefined,
      commitsPerOp:
        statements && transactions !== undefined ? transactions / operations : undefined,
    };
    const ratios = cells
      .filter((peer) => peer.psiRow === cell.name)
      .map((peer) => ratio(results, rounds.get(peer.name) ?? [], peer.name))
      .filter((r): r is RowRatio => r !== undefined);
    if (ratios.length > 0) row.ratios = ratios;
    row.note = note(row, done, notes.get(cell.name));
    return row;
  });
}

/** Ops/s of `own` over `other`'s, per round where both ran; the median, its range, CPU ratio. */
function ratio(
  own: ReadonlyArray<CellResult | undefined>,
  other: ReadonlyArray<CellResult | undefined>,
  against: string,
): RowRatio | undefined {
  const rates: number[] = [];
  const cpu: number[] = [];
  own.forEach((a, round) => {
    const b = other[round];
    if (!a || !b || a.operations === 0 || b.operations === 0) return;
    rates.push(a.operations / a.seconds / (b.operations / b.seconds));
    if (a.serverCpuMicros !== undefined && b.serverCpuMicros !== undefined) {
      const perOp = (r: CellResult): number =>
        (r.cpuMicros + (r.serverCpuMicros ?? 0)) / r.operations;
      cpu.push(perOp(a) / perOp(b));
    }
  });
  const value = median(rates);
  if (value === undefined) return undefined;
  return {
    against,
    value,
    how: `ops/s ÷ its ops/s within a round; median of ${rates.length} round(s)`,
    range: [Math.min(...rates), Math.max(...rates)],
    cpuRatio: median(cpu),
  };
}

function note(row: BenchResult, done: readonly CellResult[], extra: string | undefined): string {
  const parts: string[] = [];
  const rates = done.map((r) => r.operations / r.seconds);
  if (done.length > 1) {
    parts.push(`rounds ${formatRate(Math.min(...rates))}–${formatRate(Math.max(...rates))}/s`);
  }
  if (row.statementsPerOp !== undefined) {
    parts.push(
      `${row.statementsPerOp.toFixed(1)} stmts, ${(row.commitsPerOp ?? 0).toFixed(2)} tx per op`,
    );
  }
  const parked = done.reduce((total, r) => total + (r.parked ?? 0), 0);
  if (done.some((r) => r.parked !== undefined)) {
    parts.push(`parked ${Math.round((100 * parked) / Math.max(1, row.operations))}%`);
  }
  const failures = done.reduce((total, r) => total + r.failures, 0);
  if (failures > 0) {
    parts.push(`${failures} FAILED (${done.find((r) => r.firstFailure)?.firstFailure ?? '?'})`);
  }
  if (extra) parts.push(extra);
  if (row.ratios) {
    parts.push(
      `cpu/op ×${row.ratios.map((r) => (r.cpuRatio === undefined ? '—' : r.cpuRatio.toFixed(2))).join(' / ×')} the peers'`,
    );
  }
  return parts.join('; ');
}

function median(values: ReadonlyArray<number | undefined>): number | undefined {
  const sorted = values.filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function formatRate(rate: number): string {
  return rate >= 100 ? Math.round(rate).toString() : rate.toFixed(1);
}
