import { ManualTimers } from './manual-timers';

describe(ManualTimers, () => {
  it('fires due timers in due order and moves the clock', () => {
    const timers = new ManualTimers(1000);
    const fired: string[] = [];
    timers.setTimeout(() => fired.push(`b@${timers.now()}`), 20);
    timers.setTimeout(() => fired.push(`a@${timers.now()}`), 10);
    const cleared = timers.setTimeout(() => fired.push('cleared'), 5);
    timers.clearTimeout(cleared);
    timers.advance(15);
    expect(fired).toEqual(['a@1010']);
    expect(timers.now()).toBe(1015);
    timers.advance(5);
    expect(fired).toEqual(['a@1010', 'b@1020']);
    expect(timers.size).toBe(0);
  });

  it('fires timers armed by a callback within the same window', () => {
    const timers = new ManualTimers();
    const fired: number[] = [];
    timers.setTimeout(() => {
      fired.push(timers.now());
      timers.setTimeout(() => fired.push(timers.now()), 3);
    }, 2);
    timers.advance(10);
    expect(fired).toEqual([2, 5]);
  });
});
