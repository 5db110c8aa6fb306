import { KeyedMutex } from './keyed-mutex';
import { TaskTracker } from './task-tracker';

describe(TaskTracker, () => {
  describe('.quiet', () => {
    it('resolves while a task only sleeps on the clock, and .idle still waits for it', async () => {
      const tasks = new TaskTracker(() => undefined);
      let wake!: () => void;
      let slept = false;
      tasks.track('backoff', async () => {
        await tasks.sleep(new Promise<void>((resolve) => (wake = resolve)));
        slept = true;
      });

      await tasks.quiet();
      let idle = false;
      const idling = tasks.idle().then(() => (idle = true));
      await Promise.resolve();

      expect(slept).toBe(false);
      expect(idle).toBe(false);
      wake();
      await idling;
      expect(slept).toBe(true);
    });

    it('waits for a task that works, not only sleeps', async () => {
      const tasks = new TaskTracker(() => undefined);
      let finish: (() => void) | undefined;
      tasks.track('work', () => new Promise<void>((resolve) => (finish = resolve)));
      let quiet = false;
      const quieting = tasks.quiet().then(() => (quiet = true));

      // Every promise callback queued so far has run: the work started and quiet() still waits.
      await new Promise((resolve) => setImmediate(resolve));
      expect(quiet).toBe(false);
      finish?.();
      await quieting;
      expect(quiet).toBe(true);
    });

    it('counts a task queued on a mutex behind a sleeping one as quiet', async () => {
      const tasks = new TaskTracker(() => undefined);
      const mutex = new KeyedMutex(tasks.queuedOnMutex);
      let wake!: () => void;
      const order: string[] = [];
      tasks.track('backoff', () =>
        mutex.run('invocation', async () => {
          await tasks.sleep(new Promise<void>((resolve) => (wake = resolve)));
          order.push('retried');
        }),
      );
      tasks.track('same step again', () =>
        mutex.run('invocation', async () => {
          order.push('second run');
        }),
      );

      await tasks.quiet();
      expect(order).toEqual([]);
      wake();
      await tasks.idle();
      expect(order).toEqual(['retried', 'second run']);
    });
  });
});
