import { GuardNotOwnerError, ProcessGuard, PsiErrorCode, type PsiStore } from '@psi/core';
import { StoreInspector } from '@psi/core/testing';
import { describeEachStore, openStoreAt, TestClock, useTempDir } from './fixtures';

// Semantic 8: the process guard (state tracker). One holder per id, refused callers learn who
// holds it and since when; only the owner stops it; expiry frees it; atomic across processes
// sharing the database (two DataSources on one SQLite file, or one PostgreSQL schema).

describeEachStore('process guard', () => {
  const temp = useTempDir();
  const stores: PsiStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
  });
  async function openStore(file: string): Promise<PsiStore> {
    const store = await openStoreAt(file);
    stores.push(store);
    return store;
  }

  it('start / isRunning / status / stop by the owner only', async () => {
    const clock = new TestClock(1_700_000_000_000);
    const store = await openStore(temp.file());
    const guard = new ProcessGuard(store, clock.now);

    const first = await guard.start('bulk-42', 60_000, 'node-a');
    expect(first).toEqual({
      started: true,
      ownerToken: expect.any(String),
      startedAt: clock.current,
      expiresAt: clock.current + 60_000,
    });
    if (!first.started) throw new Error('unreachable');
    expect(await guard.isRunning('bulk-42')).toBe(true);
    expect(await guard.isRunning('bulk-43')).toBe(false);

    clock.advance(5_000);
    expect(await guard.start('bulk-42', 60_000, 'node-b')).toEqual({
      started: false,
      heldBy: 'node-a',
      since: first.startedAt,
      expiresAt: first.expiresAt,
    });
    expect(await guard.status('bulk-42')).toEqual({
      running: true,
      heldBy: 'node-a',
      since: first.startedAt,
      expiresAt: first.expiresAt,
    });

    await expect(guard.stop('bulk-42', 'not-the-token')).rejects.toBeInstanceOf(GuardNotOwnerError);
    await expect(guard.stop('bulk-42', 'not-the-token')).rejects.toMatchObject({
      code: PsiErrorCode.GuardNotOwner,
    });
    expect(await guard.isRunning('bulk-42')).toBe(true);

    await guard.stop('bulk-42', first.ownerToken);
    expect(await guard.isRunning('bulk-42')).toBe(false);
    expect(await guard.status('bulk-42')).toEqual({ running: false });
    expect(await new StoreInspector(store).guards()).toEqual([]);
    // A stopped guard can not be stopped twice, and the id is free again.
    await expect(guard.stop('bulk-42', first.ownerToken)).rejects.toBeInstanceOf(
      GuardNotOwnerError,
    );
    expect(await guard.start('bulk-42', 60_000, 'node-b')).toMatchObject({ started: true });
  });

  it('frees the guard when its TTL passes (a holder that died), and renew extends it', async () => {
    const clock = new TestClock(1_700_000_000_000);
    const store = await openStore(temp.file());
    const guard = new ProcessGuard(store, clock.now);
    const dead = await guard.start('job', 1_000, 'crashed-node');
    if (!dead.started) throw new Error('unreachable');

    clock.advance(999);
    expect(await guard.isRunning('job')).toBe(true);
    clock.advance(1);
    expect(await guard.isRunning('job')).toBe(false);

    const next = await guard.start('job', 1_000, 'healthy-node');
    expect(next).toMatchObject({ started: true, startedAt: clock.current });
    if (!next.started) throw new Error('unreachable');
    // The dead holder's token no longer stops anything.
    await expect(guard.stop('job', dead.ownerToken)).rejects.toBeInstanceOf(GuardNotOwnerError);

    clock.advance(900);
    expect(await guard.renew('job', next.ownerToken, 1_000)).toBe(clock.current + 1_000);
    clock.advance(900);
    expect(await guard.status('job')).toMatchObject({ running: true, heldBy: 'healthy-node' });
    const rows = await new StoreInspector(store).guards();
    expect(rows.map(({ id, owner }) => ({ id, owner }))).toEqual([
      { id: 'job', owner: 'healthy-node' },
    ]);
  });

  it('is atomic across two stores on one file: of 50 racing starts exactly one wins', async () => {
    const file = temp.file();
    const a = new ProcessGuard(await openStore(file));
    const b = new ProcessGuard(await openStore(file));

    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        (i % 2 === 0 ? a : b).start('nightly-import', 60_000, `caller-${i}`),
      ),
    );

    const winners = results.filter((r) => r.started);
    expect(winners).toHaveLength(1);
    const winner = winners[0] as Extract<(typeof results)[number], { started: true }>;
    const winnerIndex = results.indexOf(winner);
    for (const loser of results.filter((r) => !r.started)) {
      expect(loser).toEqual({
        started: false,
        heldBy: `caller-${winnerIndex}`,
        since: winner.startedAt,
        expiresAt: winner.expiresAt,
      });
    }
    const rows = await new StoreInspector(stores[0]).guards();
    expect(rows.map(({ id, owner, ownerToken }) => ({ id, owner, ownerToken }))).toEqual([
      { id: 'nightly-import', owner: `caller-${winnerIndex}`, ownerToken: winner.ownerToken },
    ]);
    // The other store sees the same holder, and only the winner's token stops it there.
    const other = winnerIndex % 2 === 0 ? b : a;
    expect(await other.status('nightly-import')).toMatchObject({
      running: true,
      heldBy: `caller-${winnerIndex}`,
    });
    await expect(other.stop('nightly-import', 'forged')).rejects.toBeInstanceOf(GuardNotOwnerError);
    await other.stop('nightly-import', winner.ownerToken);
    expect(await a.isRunning('nightly-import')).toBe(false);
    expect(await b.isRunning('nightly-import')).toBe(false);
  });
});
