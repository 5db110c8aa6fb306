import { timeOrderedId, TimeOrderedIds } from './time-ordered-id';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const timeOf = (id: string): number => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

describe(TimeOrderedIds, () => {
  it('makes version 7 UUIDs carrying the time in their first 48 bits', () => {
    const now = Date.UTC(2026, 10, 21, 12, 0, 0, 123);
    const id = new TimeOrderedIds().next(now);
    expect(id).toMatch(UUID_V7);
    expect(timeOf(id)).toBe(now);
  });

  it('increases strictly within one millisecond, across milliseconds and past 4,096 per ms', () => {
    const ids = new TimeOrderedIds();
    const made = [
      ...Array.from({ length: 5_000 }, () => ids.next(1_700_000_000_000)),
      ...Array.from({ length: 10 }, () => ids.next(1_700_000_000_002)),
    ];
    made.forEach((id) => expect(id).toMatch(UUID_V7));
    for (let i = 1; i < made.length; i++) expect(made[i - 1] < made[i]).toBe(true);
    expect(timeOf(made[4_095])).toBe(1_700_000_000_000);
    expect(timeOf(made[4_096])).toBe(1_700_000_000_001); // the counter ran out: next ms borrowed
    expect(timeOf(made[made.length - 1])).toBe(1_700_000_000_002);
  });

  it('keeps increasing when the clock steps back', () => {
    const ids = new TimeOrderedIds();
    const before = ids.next(1_700_000_000_500);
    const after = ids.next(1_700_000_000_000);
    expect(before < after).toBe(true);
    expect(timeOf(after)).toBe(1_700_000_000_500);
  });

  it('gives the process one increasing sequence', () => {
    const made = Array.from({ length: 1_000 }, () => timeOrderedId());
    for (let i = 1; i < made.length; i++) expect(made[i - 1] < made[i]).toBe(true);
  });
});
