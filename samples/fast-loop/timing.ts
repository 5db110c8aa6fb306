/** Percentiles of a set of durations, in ms. */
export interface TimingSummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles of `samples` (ms); all zero when there are none. */
export function summarize(samples: readonly number[]): TimingSummary {
  if (samples.length === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
  return {
    count: sorted.length,
    mean: sorted.reduce((sum, ms) => sum + ms, 0) / sorted.length,
    p50: rank(50),
    p90: rank(90),
    p99: rank(99),
    max: sorted[sorted.length - 1],
  };
}

/** `p50 1.9 ms  p90 …` for printing. */
export function formatSummary(summary: TimingSummary): string {
  const ms = (value: number): string => `${value.toFixed(2)} ms`;
  return `p50 ${ms(summary.p50)}  p90 ${ms(summary.p90)}  p99 ${ms(summary.p99)}  max ${ms(summary.max)}  mean ${ms(summary.mean)}`;
}
