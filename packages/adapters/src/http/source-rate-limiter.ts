/** Options of the inbound server's per-source rate limit. */
export interface RateLimitOptions {
  /** Sustained requests per second per source (remote address). @default 100 */
  requestsPerSecond?: number;
  /** Requests a source may send at once before the sustained rate applies. @default 200 */
  burst?: number;
  /**
   * Sources tracked at once; beyond it the least recently seen idle ones are forgotten (a
   * forgotten source starts again with a full burst). Bounds memory under address spraying.
   * @default 10_000
   */
  maxSources?: number;
}

export type CompiledRateLimit = Required<RateLimitOptions>;

export const DEFAULT_RATE_LIMIT: CompiledRateLimit = {
  requestsPerSecond: 100,
  burst: 200,
  maxSources: 10_000,
};

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * A token bucket per source: each request takes a token, tokens come back at
 * `requestsPerSecond` up to `burst`. `take` answers how long to wait when the bucket is empty.
 */
export class SourceRateLimiter {
  // A Map iterates in insertion order; a source is re-inserted on every request, so the first
  // entries are the least recently seen.
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limit: CompiledRateLimit,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes a token for `source`: 0 when allowed, else the seconds until one is free (≥ 1). */
  take(source: string): number {
    const now = this.now();
    const bucket = this.refilled(source, now);
    this.buckets.delete(source);
    this.buckets.set(source, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.limit.requestsPerSecond));
  }

  private refilled(source: string, now: number): Bucket {
    const bucket = this.buckets.get(source);
    if (!bucket) {
      this.forgetBeyondCapacity();
      return { tokens: this.limit.burst, updatedAt: now };
    }
    const elapsedSeconds = Math.max(0, now - bucket.updatedAt) / 1000;
    bucket.tokens = Math.min(
      this.limit.burst,
      bucket.tokens + elapsedSeconds * this.limit.requestsPerSecond,
    );
    bucket.updatedAt = now;
    return bucket;
  }

  private forgetBeyondCapacity(): void {
    while (this.buckets.size >= this.limit.maxSources) {
      const oldest = this.buckets.keys().next().value;
      if (oldest === undefined) return;
      this.buckets.delete(oldest);
    }
  }
}
