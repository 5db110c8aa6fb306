import { EndWaiters } from './end-waiters';

describe(EndWaiters, () => {
  describe('.waitFor', () => {
    it('resolves with the value an instance settles with', async () => {
      const waiters = new EndWaiters<string>();
      const ended = waiters.waitFor('i1', async () => undefined);
      await Promise.resolve();

      waiters.settle('i1', 'completed');

      await expect(ended).resolves.toBe('completed');
    });

    it('returns at once when the instance already ended', async () => {
      const waiters = new EndWaiters<string>();

      await expect(waiters.waitFor('i1', async () => 'aborted')).resolves.toBe('aborted');
      waiters.settle('i1', 'late'); // nobody is left waiting
    });

    it('does not miss an end that happens while the current state is read', async () => {
      const waiters = new EndWaiters<string>();

      const ended = waiters.waitFor('i1', async () => {
        waiters.settle('i1', 'completed');
        return undefined;
      });

      await expect(ended).resolves.toBe('completed');
    });

    it('passes on what the current-state check throws', async () => {
      const waiters = new EndWaiters<string>();

      await expect(
        waiters.waitFor('i1', async () => {
          throw new Error('unknown instance');
        }),
      ).rejects.toThrow('unknown instance');
    });
  });

  describe('.rejectAll', () => {
    it('rejects every pending waiter', async () => {
      const waiters = new EndWaiters<string>();
      const a = waiters.waitFor('a', async () => undefined);
      const b = waiters.waitFor('b', async () => undefined);
      await Promise.resolve();

      waiters.rejectAll(new Error('stopped'));

      await expect(a).rejects.toThrow('stopped');
      await expect(b).rejects.toThrow('stopped');
    });
  });
});
