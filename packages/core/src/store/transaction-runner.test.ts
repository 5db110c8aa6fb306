import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { deferInsert, flushDeferredInserts } from './deferred-inserts';
import { AuditEntryEntity, type AuditKind } from './entities/audit-entry.entity';
import { ProcessGuardEntity } from './entities/process-guard.entity';
import { PsiStore } from './psi-store';

describe.each(['sqlite3', 'better-sqlite3'] as const)(
  'GroupCommitTransactionRunner (via PsiStore on SQLite, %s)',
  (sqliteDriver) => {
    let dir: string;
    let store: PsiStore;
    beforeEach(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-runner-'));
      store = await PsiStore.open({ sqlitePath: path.join(dir, 'psi.sqlite'), sqliteDriver });
    });
    afterEach(async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const guard = (id: string) => ({
      id,
      ownerToken: `token-${id}`,
      owner: 'test',
      startedAt: 1,
      expiresAt: 2,
    });
    const guardIds = async (): Promise<string[]> =>
      (await store.transaction((tx) => tx.find(ProcessGuardEntity, { order: { id: 'ASC' } }))).map(
        (row) => row.id,
      );

    it('commits the units queued in one turn together, whether or not the driver yields', async () => {
      // A synchronous driver never yields to I/O inside a unit: the runner waits one turn of the
      // event loop before each batch so that callers on other turns can join it.
      const createQueryRunner = store.dataSource.createQueryRunner.bind(store.dataSource);
      let batches = 0;
      jest.spyOn(store.dataSource, 'createQueryRunner').mockImplementation((...args) => {
        batches++;
        return createQueryRunner(...args);
      });
      // Twenty independent callers, each on its own turn of the event loop (as answers arrive).
      const insertOnItsOwnTurn = (id: string): Promise<void> =>
        new Promise((resolve, reject) =>
          setImmediate(() => {
            store
              .transaction((tx) => tx.insert(ProcessGuardEntity, guard(id)))
              .then(() => resolve(), reject);
          }),
        );
      await Promise.all(Array.from({ length: 20 }, (_, i) => insertOnItsOwnTurn(`g${i}`)));
      expect(batches).toBeLessThanOrEqual(2);
      expect(await guardIds()).toHaveLength(20);
    });

    it('rolls back a lone failing unit, including the writes it made before failing', async () => {
      await expect(
        store.transaction(async (tx) => {
          await tx.insert(ProcessGuardEntity, guard('half-done'));
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await guardIds()).toEqual([]);
    });

    it('re-runs a batch with a failing unit so the others commit exactly once', async () => {
      const runs = new Map<string, number>();
      const unit = (id: string, fail: boolean) =>
        store.transaction(async (tx) => {
          runs.set(id, (runs.get(id) ?? 0) + 1);
          await tx.insert(ProcessGuardEntity, guard(id));
          if (fail) throw new Error(`unit ${id} fails`);
          return id;
        });
      // Queued in one tick: b, c and d share a batch (a may start one of its own).
      const results = await Promise.allSettled([
        unit('a', false),
        unit('b', true),
        unit('c', false),
        unit('d', false),
      ]);
      expect(results.map((r) => r.status)).toEqual([
        'fulfilled',
        'rejected',
        'fulfilled',
        'fulfilled',
      ]);
      expect((results[1] as PromiseRejectedResult).reason).toEqual(new Error('unit b fails'));
      expect(await guardIds()).toEqual(['a', 'c', 'd']);
      // The optimistic pass stops at b; the savepoint pass runs the batch once more.
      expect(Math.max(...runs.values())).toBeLessThanOrEqual(2);
      expect(runs.get('b')).toBe(2);
    });

    it('keeps a unit that catches a failed statement of its own (statement-level rollback)', async () => {
      await store.transaction((tx) => tx.insert(ProcessGuardEntity, guard('taken')));
      const outcome = await store.transaction(async (tx) => {
        await tx.insert(ProcessGuardEntity, guard('mine'));
        const duplicate = await tx.insert(ProcessGuardEntity, guard('taken')).then(
          () => 'inserted',
          () => 'refused',
        );
        return duplicate;
      });
      expect(outcome).toBe('refused');
      expect(await guardIds()).toEqual(['mine', 'taken']);
    });
  },
);

describe('deferred inserts (audit rows) in group commits', () => {
  let dir: string;
  let store: PsiStore;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-deferred-'));
    store = await PsiStore.open({ sqlitePath: path.join(dir, 'psi.sqlite') });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const entry = (kind: string) => ({
    instanceId: 'i1',
    invocationId: null,
    kind: kind as AuditKind,
    detail: null,
    at: 1,
  });
  const kinds = async (): Promise<string[]> =>
    (await store.transaction((tx) => tx.find(AuditEntryEntity, { order: { seq: 'ASC' } }))).map(
      (row) => row.kind,
    );

  it('writes the rows of committed units in order and drops those of a failed unit', async () => {
    const unit = (kinds: string[], fail = false) =>
      store.transaction(async (tx) => {
        for (const kind of kinds) deferInsert(tx, AuditEntryEntity, entry(kind));
        if (fail) throw new Error('boom');
      });
    const results = await Promise.allSettled([
      unit(['invoked', 'sent']),
      unit(['parked'], true),
      unit(['received', 'delivered']),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await kinds()).toEqual(['invoked', 'sent', 'received', 'delivered']);
  });

  it('lets a unit read rows deferred earlier in the same transaction after a flush', async () => {
    const seen = await Promise.all([
      store.transaction(async (tx) => deferInsert(tx, AuditEntryEntity, entry('invoked'))),
      store.transaction(async (tx) => {
        deferInsert(tx, AuditEntryEntity, entry('sent'));
        await flushDeferredInserts(tx);
        return (await tx.find(AuditEntryEntity)).map((row) => row.kind);
      }),
    ]);
    expect(seen[1]).toEqual(['invoked', 'sent']);
    expect(await kinds()).toEqual(['invoked', 'sent']);
  });

  it('keeps the rows of the units before a unit that flushes them and then fails', async () => {
    // Re-run with savepoints: the failing unit's savepoint must not hold the earlier units' rows.
    const results = await Promise.allSettled([
      store.transaction(async (tx) => deferInsert(tx, AuditEntryEntity, entry('invoked'))),
      store.transaction(async (tx) => {
        deferInsert(tx, AuditEntryEntity, entry('parked'));
        await flushDeferredInserts(tx);
        throw new Error('boom');
      }),
      store.transaction(async (tx) => deferInsert(tx, AuditEntryEntity, entry('delivered'))),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await kinds()).toEqual(['invoked', 'delivered']);
  });

  it('writes the engine states saved in one batch before COMMIT, the last save of each winning', async () => {
    const states = store.engineStates();
    await states.save('e', 'a', 'a-0');
    const batches = jest.spyOn(store.dataSource, 'createQueryRunner');
    const done = await Promise.all([
      states.save('e', 'a', 'a-1'),
      states.save('e', 'b', 'b-1'),
      states.save('e', 'a', 'a-2', { running: false }),
      // A load in the same batch sees what was saved before it.
      states.load('e', 'b'),
    ]);
    expect(batches).toHaveBeenCalledTimes(1);
    batches.mockRestore();
    expect(done[3]).toBe('b-1');
    expect(await states.load('e', 'a')).toBe('a-2');
    expect(await states.list('e', { running: true })).toEqual(['b']);
    expect(await states.list('e', { running: false })).toEqual(['a']);
  });

  it('keeps its deferred rows when a dataSource.query() elsewhere runs while a unit awaits', async () => {
    // SQLite's one query runner gets a new manager from every createQueryRunner(), which a
    // dataSource.query() calls: a unit mid-way must still defer into its own batch.
    let resume!: () => void;
    const paused = new Promise<void>((resolve) => (resume = resolve));
    const unit = store.transaction(async (tx) => {
      deferInsert(tx, AuditEntryEntity, entry('claimed'));
      await paused;
      deferInsert(tx, AuditEntryEntity, entry('delivered'));
    });
    await store.dataSource.query('SELECT 1');
    resume();
    await unit;
    expect(await kinds()).toEqual(['claimed', 'delivered']);
  });
});
