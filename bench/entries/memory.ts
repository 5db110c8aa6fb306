/** Resident memory, for memory entries (e.g. RSS of 10,000 waiting instances). */
export interface RssSample {
  rssBytes: number;
  heapUsedBytes: number;
}

/**
 * Samples memory, after a full garbage collection when node runs with `--expose-gc`
 * (`node --expose-gc bench/dist/run.js --only <memory entry>`), else as is.
 */
export function sampleMemory(): RssSample {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const usage = process.memoryUsage();
  return { rssBytes: usage.rss, heapUsedBytes: usage.heapUsed };
}

/** Memory held by what `build()` returns, measured while it is still reachable. */
export async function measureRss<T>(build: () => Promise<T>): Promise<RssSample & { value: T }> {
  const before = sampleMemory();
  const value = await build();
  const after = sampleMemory();
  return {
    rssBytes: after.rssBytes - before.rssBytes,
    heapUsedBytes: after.heapUsedBytes - before.heapUsedBytes,
    value,
  };
}

export function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
