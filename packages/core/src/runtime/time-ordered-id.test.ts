import { timeOrderedId } from './time-ordered-id';

describe(timeOrderedId, () => {
  it('is a version 7 UUID carrying the time in its first 48 bits', () => {
    const now = Date.UTC(2026, 10, 21, 12, 0, 0, 123);
    const id = timeOrderedId(now);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(now);
  });

  it('sorts by creation time across milliseconds and differs within one', () => {
    const earlier = timeOrderedId(1_700_000_000_000);
    const later = timeOrderedId(1_700_000_000_001);
    expect(earlier < later).toBe(true);
    const sameMs = new Set(Array.from({ length: 1_000 }, () => timeOrderedId(1_700_000_000_000)));
    expect(sameMs.size).toBe(1_000);
  });
});
