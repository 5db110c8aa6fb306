import { TestingErrorCode } from './errors';
import { TestClock } from './test-clock';

describe(TestClock, () => {
  describe('.advance', () => {
    it('fires what falls due in due order, with the clock at each due time, and no more', async () => {
      const clock = new TestClock(1_000);
      const fired: Array<[string, number]> = [];
      clock.setTimeout(() => fired.push(['b', clock.now()]), 300);
      clock.setTimeout(() => fired.push(['a', clock.now()]), 100);
      clock.setTimeout(() => fired.push(['c', clock.now()]), 301);

      await clock.advance(300);

      expect(fired).toEqual([
        ['a', 1_100],
        ['b', 1_300],
      ]);
      expect(clock.now()).toBe(1_300);
      expect(clock.pendingTimers).toBe(1);
    });

    it('fires timers set by a timer within the window, and waits for the work a timer returns', async () => {
      const clock = new TestClock(0);
      const fired: number[] = [];
      clock.setTimeout(() => {
        fired.push(clock.now());
        clock.setTimeout(() => fired.push(clock.now()), 50);
      }, 50);
      let workDone = false;
      clock.setTimeout(
        () =>
          new Promise<void>((resolve) =>
            setImmediate(() => {
              workDone = true;
              resolve();
            }),
          ),
        10,
      );

      await clock.advance(100);

      expect(fired).toEqual([50, 100]);
      expect(workDone).toBe(true);
    });

    it('keeps timers due at the same time in the order they were set, and skips cleared ones', async () => {
      const clock = new TestClock(0);
      const fired: string[] = [];
      clock.setTimeout(() => fired.push('first'), 10);
      const cleared = clock.setTimeout(() => fired.push('cleared'), 10);
      clock.setTimeout(() => fired.push('second'), 10);
      clock.clearTimeout(cleared);

      await clock.advance(10);

      expect(fired).toEqual(['first', 'second']);
    });

    it('refuses to go backwards or to move while moving', async () => {
      const clock = new TestClock(0);
      clock.setTimeout(() => undefined, 1);

      await expect(clock.advance(-1)).rejects.toMatchObject({
        code: TestingErrorCode.ClockBackwards,
      });
      const moving = clock.advance(5);
      await expect(clock.advance(5)).rejects.toMatchObject({ code: TestingErrorCode.ClockBusy });
      await moving;
      await expect(clock.advanceTo(1)).rejects.toMatchObject({
        code: TestingErrorCode.ClockBackwards,
      });
    });
  });

  describe('.advanceTo', () => {
    it('leaves timers due exactly at the target for runUntilIdle when fireAtTarget is false', async () => {
      const clock = new TestClock(0);
      const fired: number[] = [];
      clock.setTimeout(() => fired.push(clock.now()), 99);
      clock.setTimeout(() => fired.push(clock.now()), 100);

      await clock.advanceTo(100, { fireAtTarget: false });
      expect(fired).toEqual([99]);
      await clock.runUntilIdle();

      expect(fired).toEqual([99, 100]);
    });
  });

  describe('.runUntilIdle', () => {
    it('fires zero-delay timers without moving the clock, and reports what a timer throws', async () => {
      const clock = new TestClock(42);
      const errors: unknown[] = [];
      clock.attach({ settle: async () => undefined, onError: (error) => errors.push(error) });
      clock.setTimeout(() => {
        throw new Error('boom');
      }, 0);
      clock.setTimeout(() => undefined, 1);

      await clock.runUntilIdle();

      expect(errors).toEqual([new Error('boom')]);
      expect(clock.now()).toBe(42);
      expect(clock.nextDueAt()).toBe(43);
    });
  });
});
