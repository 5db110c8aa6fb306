import { StateCache } from './state-cache';

/** A load that resolves when the test says, with what it was given. */
function heldLoad(json: string | undefined): {
  load: () => Promise<string | undefined>;
  release: () => void;
} {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  return {
    load: async () => {
      await released;
      return json;
    },
    release,
  };
}

describe('StateCache', () => {
  it('evicts the least recently used entry beyond its capacity', () => {
    const cache = new StateCache(2);
    cache.set('a', 'A');
    cache.set('b', 'B');
    expect(cache.get('a')).toBe('A'); // a is now the most recent
    cache.set('c', 'C');
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe('A');
    expect(cache.get('c')).toBe('C');
  });

  it('keeps nothing with capacity 0', async () => {
    const cache = new StateCache(0);
    cache.set('a', 'A');
    expect(cache.get('a')).toBeUndefined();
    await expect(cache.readThrough('a', async () => 'loaded')).resolves.toBe('loaded');
    expect(cache.get('a')).toBeUndefined();
  });

  it('reads through on a miss and keeps what it loaded', async () => {
    const cache = new StateCache(4);
    const load = jest.fn(async () => 'loaded');
    await expect(cache.readThrough('a', load)).resolves.toBe('loaded');
    await expect(cache.readThrough('a', load)).resolves.toBe('loaded');
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('keeps nothing for an instance the repository does not have', async () => {
    const cache = new StateCache(4);
    await expect(cache.readThrough('a', async () => undefined)).resolves.toBeUndefined();
    await expect(cache.readThrough('a', async () => 'later')).resolves.toBe('later');
  });

  it('does not keep a load that a save overtook', async () => {
    const cache = new StateCache(4);
    const old = heldLoad('old');
    const reading = cache.readThrough('a', old.load);
    cache.set('a', 'new');
    old.release();
    await expect(reading).resolves.toBe('old');
    expect(cache.get('a')).toBe('new');
  });

  it('does not keep a load that a delete overtook', async () => {
    const cache = new StateCache(4);
    const old = heldLoad('old');
    const reading = cache.readThrough('a', old.load);
    cache.delete('a');
    old.release();
    await reading;
    expect(cache.get('a')).toBeUndefined();
  });

  it('does not keep any of several loads in flight when a save overtook them', async () => {
    const cache = new StateCache(4);
    const first = heldLoad('old');
    const second = heldLoad('old');
    const reads = [cache.readThrough('a', first.load), cache.readThrough('a', second.load)];
    cache.set('a', 'new');
    cache.delete('a'); // evicted, say: the stale loads must still not come back
    first.release();
    second.release();
    await Promise.all(reads);
    expect(cache.get('a')).toBeUndefined();
    await expect(cache.readThrough('a', async () => 'fresh')).resolves.toBe('fresh');
    expect(cache.get('a')).toBe('fresh');
  });
});
