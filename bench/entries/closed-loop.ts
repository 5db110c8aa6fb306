import { performance } from 'node:perf_hooks';
import { percentile, type BenchResult } from '../report';
import { countStatements, formatPerOperation, total, type StatementCounts } from './sql-counter';

/** A closed-loop measurement: `concurrency` workers, each starting its next operation when one ends. */
export interface ClosedLoop {
  concurrency: number;
  /** Operations run (and discarded) before measuring: connections, JIT, group assignments. */
  warmup: number;
  /** Most operations measured. */
  operations: number;
  /** No operation starts after this; those in flight still count. */
  maxSeconds: number;
}

/** What a closed loop measured, ready to become a {@link BenchResult}. */
export interface ClosedLoopResult {
  operations: number;
  seconds: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  cpuMicros: number;
}

/** Hooks around the measured window (after the warm-up), e.g. to count statements. */
export interface MeasuredWindow {
  /** Called after the warm-up; the measurement starts once it resolves. */
  begin(): void | Promise<void>;
  end(): void;
}

/** Runs `operation` in a closed loop; latency is per operation, CPU is this process's (all threads). */
export async function runClosedLoop(
  loop: ClosedLoop,
  operation: (n: number) => Promise<void>,
  window?: MeasuredWindow,
): Promise<ClosedLoopResult> {
  let next = 0;
  const drive = async (count: number, latencies: number[], deadline: number): Promise<void> => {
    let remaining = count;
    const worker = async (): Promise<void> => {
      while (remaining > 0 && performance.now() < deadline) {
        remaining--;
        const t0 = performance.now();
        await operation(next++);
        latencies.push(performance.now() - t0);
      }
    };
    await Promise.all(Array.from({ length: Math.min(loop.concurrency, count) }, worker));
  };
  await drive(loop.warmup, [], Infinity);
  const latencies: number[] = [];
  await window?.begin();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  try {
    await drive(loop.operations, latencies, started + loop.maxSeconds * 1000);
  } finally {
    window?.end();
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    operations: latencies.length,
    seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cpuMicros: cpu.user + cpu.system,
  };
}

/** A row for a measurement. */
export function toResult(
  name: string,
  unit: string,
  measured: ClosedLoopResult,
  extra: Pick<BenchResult, 'baseline' | 'note' | 'statementsPerOp' | 'commitsPerOp'> = {},
): BenchResult {
  return { name, unit, ...measured, ...extra };
}

/**
 * How a PSI row compares with its raw baseline against the targets (≥ 85 % of the raw
 * throughput, p50 at most 1 ms above raw), for the note column.
 */
export function targetNote(psi: ClosedLoopResult, raw: ClosedLoopResult): string {
  const ratio = psi.operations / psi.seconds / (raw.operations / raw.seconds);
  const p50Over = (psi.p50Ms ?? Infinity) - (raw.p50Ms ?? 0);
  const ratioOk = ratio >= 0.85;
  const p50Ok = p50Over <= 1;
  return (
    `target ≥0.85× ${ratioOk ? 'met' : 'missed'}, ` +
    `p50 ${p50Over >= 0 ? '+' : ''}${p50Over.toFixed(2)} ms vs raw (≤ +1 ms ${p50Ok ? 'met' : 'missed'})`
  );
}

/** A row saying why an entry could not run (e.g. no Kafka broker). */
export function skippedRow(name: string, reason: string): BenchResult {
  return { name, operations: 0, unit: '—', seconds: 0, note: `skipped: ${reason}` };
}

/** Counts SQLite statements in the measured window; `perOperation` formats them for a note. */
export function statementWindow(): {
  begin(): void;
  end(): void;
  perOperation(operations: number): string;
  breakdown(operations: number): string;
  /** The same per operation as row fields (SQLite: a commit per BEGIN). */
  counts(operations: number): Pick<BenchResult, 'statementsPerOp' | 'commitsPerOp'>;
} {
  const counts: StatementCounts = new Map();
  let uncount: (() => void) | undefined;
  return {
    begin: () => {
      uncount = countStatements(counts);
    },
    end: () => uncount?.(),
    perOperation: (operations) =>
      operations === 0
        ? ''
        : `${(total(counts) / operations).toFixed(0)} stmts, ` +
          `${((counts.get('BEGIN') ?? 0) / operations).toFixed(2)} commits per corr`,
    breakdown: (operations) => (operations === 0 ? '' : formatPerOperation(counts, operations)),
    counts: (operations) =>
      operations === 0
        ? {}
        : {
            statementsPerOp: total(counts) / operations,
            commitsPerOp: (counts.get('BEGIN') ?? 0) / operations,
          },
  };
}
