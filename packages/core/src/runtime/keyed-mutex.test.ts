import { KeyedMutex } from './keyed-mutex';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe(KeyedMutex, () => {
  it('runs tasks of one key one after the other, in call order', async () => {
    const mutex = new KeyedMutex();
    const log: string[] = [];
    const gate = deferred();
    const first = mutex.run('k', async () => {
      log.push('first:start');
      await gate.promise;
      log.push('first:end');
      return 1;
    });
    const second = mutex.run('k', async () => {
      log.push('second');
      return 2;
    });
    await Promise.resolve();
    expect(log).toEqual(['first:start']);
    expect(mutex.isBusy('k')).toBe(true);
    gate.resolve();
    expect(await Promise.all([first, second])).toEqual([1, 2]);
    expect(log).toEqual(['first:start', 'first:end', 'second']);
  });

  it('runs tasks of different keys concurrently', async () => {
    const mutex = new KeyedMutex();
    const gate = deferred();
    const blocked = mutex.run('a', () => gate.promise);
    await expect(mutex.run('b', async () => 'b')).resolves.toBe('b');
    gate.resolve();
    await blocked;
  });

  it('keeps going after a task rejects', async () => {
    const mutex = new KeyedMutex();
    const failing = mutex.run('k', async () => {
      throw new Error('boom');
    });
    const next = mutex.run('k', async () => 'ok');
    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ok');
  });

  it('idle() resolves once every queued task settled, and forgets idle keys', async () => {
    const mutex = new KeyedMutex();
    const gate = deferred();
    let done = false;
    void mutex.run('a', async () => {
      await gate.promise;
      done = true;
    });
    const idle = mutex.idle();
    gate.resolve();
    await idle;
    expect(done).toBe(true);
    expect(mutex.isBusy('a')).toBe(false);
  });
});
