import { SourceRateLimiter } from './source-rate-limiter';

describe(SourceRateLimiter, () => {
  let now: number;
  const clock = (): number => now;
  beforeEach(() => {
    now = 1_000_000;
  });

  it('lets a source send its burst, then one request per 1/rate seconds', () => {
    const limiter = new SourceRateLimiter(
      { requestsPerSecond: 2, burst: 3, maxSources: 10 },
      clock,
    );

    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([0, 0, 0, 1]);
    now += 500; // one token back
    expect([limiter.take('a'), limiter.take('a')]).toEqual([0, 1]);
  });

  it('keeps sources apart', () => {
    const limiter = new SourceRateLimiter(
      { requestsPerSecond: 1, burst: 1, maxSources: 10 },
      clock,
    );

    expect([limiter.take('a'), limiter.take('b'), limiter.take('a')]).toEqual([0, 0, 1]);
  });

  it('says how many whole seconds to wait', () => {
    const limiter = new SourceRateLimiter(
      { requestsPerSecond: 0.1, burst: 1, maxSources: 10 },
      clock,
    );
    limiter.take('a');

    expect(limiter.take('a')).toBe(10);
    now += 4_000;
    expect(limiter.take('a')).toBe(6);
  });

  it('tracks at most maxSources, forgetting the least recently seen', () => {
    const limiter = new SourceRateLimiter({ requestsPerSecond: 1, burst: 1, maxSources: 2 }, clock);
    limiter.take('a');
    limiter.take('b');
    limiter.take('a'); // a is now the most recently seen
    limiter.take('c'); // b is forgotten

    expect(limiter.take('a')).toBe(1); // still limited: remembered
    expect(limiter.take('b')).toBe(0); // forgotten: a full burst again
  });
});
