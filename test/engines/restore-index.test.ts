import type { EngineStateIndex, EngineStateListFilter, EngineStateRepository } from '@psi/core';
import { ConformanceNames } from '@psi/testing/conformance';
import { describeEachStore, openStoreAt, useTempDir } from '../correlation/fixtures';
import { portableQuery } from '../foundation/test-stores';
import { conformancePlugins, createConformanceEngine } from './conformance/plugins';

// Issue 21.8: restore() touches only instances that still run, found through an index
// (psi_engine_instance.running, a partial index), so a start does not grow with the history of
// ended instances. Every plugin saves its instances with the flag; the shared lifecycle lists
// only running ones. The migration marks the rows written before it from their state.

const { order, transitions } = ConformanceNames;
const ENDED = 30;
const RUNNING = 3;

/** A repository that counts what restore() reads. */
class CountingRepository implements EngineStateRepository {
  loads = 0;
  lists: Array<EngineStateListFilter | undefined> = [];
  constructor(private readonly inner: EngineStateRepository) {}
  save(engine: string, id: string, state: string, index?: EngineStateIndex): Promise<void> {
    return this.inner.save(engine, id, state, index);
  }
  load(engine: string, id: string): Promise<string | undefined> {
    this.loads++;
    return this.inner.load(engine, id);
  }
  delete(engine: string, id: string): Promise<void> {
    return this.inner.delete(engine, id);
  }
  list(engine: string, filter?: EngineStateListFilter): Promise<string[]> {
    this.lists.push(filter);
    return this.inner.list(engine, filter);
  }
}

describeEachStore('restore() and the index of running instances', () => {
  const temp = useTempDir('psi-restore-index-');

  it.each(conformancePlugins)(
    '%s: restore() reads only the running instances; ended ones are never loaded',
    async (plugin) => {
      const file = temp.file();
      const store = await openStoreAt(file);
      try {
        const first = createConformanceEngine(plugin, store.engineStates());
        const ids: string[] = [];
        for (let i = 0; i < ENDED + RUNNING; i++) {
          const id = await first.start('order', { orderNumber: `PO-${i}` });
          await first.engine.signal(id, order.placeOrder);
          await first.engine.signal(id, order.prepare, { transition: transitions.prepared });
          // The first ENDED are rejected (they end); the others wait for the confirmation.
          if (i < ENDED) {
            await first.engine.signal(id, order.awaitConfirmation, {
              transition: transitions.rejected,
            });
          }
          ids.push(id);
        }
        await first.stop();
        const rows = await portableQuery<{ running: number; n: number }>(
          store,
          'SELECT running, COUNT(*) AS n FROM psi_engine_instance GROUP BY running ORDER BY running',
        );
        expect(rows.map((r) => [Number(r.running), Number(r.n)])).toEqual([
          [0, ENDED],
          [1, RUNNING],
        ]);

        const counting = new CountingRepository(store.engineStates());
        const second = createConformanceEngine(plugin, counting);
        const waiting: string[] = [];
        second.engine.subscribe((event) => {
          if (event.type === 'wait-state-entered') waiting.push(event.instanceId);
        });
        await second.restore();
        // One page (fewer running than a page holds), read through the running index.
        expect(counting.lists).toEqual([
          { running: true, after: undefined, limit: expect.any(Number) },
        ]);
        expect(counting.loads).toBe(RUNNING);
        expect(waiting.sort()).toEqual(ids.slice(ENDED).sort());
        await second.stop();
      } finally {
        await store.close();
      }
    },
  );

  it('lists running ids a page at a time, in id order, skipping ended ones', async () => {
    const store = await openStoreAt(temp.file());
    try {
      const states = store.engineStates();
      for (const id of ['d', 'a', 'c', 'b', 'e'])
        await states.save('engine', id, '{}', { running: id !== 'c' });
      await states.save('other', 'a0', '{}');
      const page = (after?: string) => states.list('engine', { running: true, after, limit: 2 });
      expect(await page()).toEqual(['a', 'b']);
      expect(await page('b')).toEqual(['d', 'e']);
      expect(await page('e')).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('the migration marks existing rows from their state', async () => {
    const store = await openStoreAt(temp.file());
    try {
      // Back to before the migration (and those after it), with rows written then.
      const executed = async (): Promise<string[]> =>
        (await portableQuery<{ name: string }>(store, 'SELECT name FROM psi_migrations')).map(
          (r) => r.name,
        );
      // The DataSource on purpose: this test runs a migration itself, over rows written before it.
      while ((await executed()).includes('CrashSafety1736420000000')) {
        await store.dataSource.undoLastMigration({ transaction: 'all' });
      }
      await portableQuery(
        store,
        `INSERT INTO psi_engine_instance (engine, "instanceId", state, "updatedAt") VALUES
           ('reference', 'a', '{"version":1,"status":"running","variables":{}}', 1),
           ('reference', 'b', '{"version":1,"status":"completed","variables":{"status":"running"}}', 1),
           ('xstate', 'c', '{"status":"aborted"}', 1)`,
      );
      await store.dataSource.runMigrations({ transaction: 'all' });
      const rows = await portableQuery<{ instanceId: string; running: number }>(
        store,
        'SELECT "instanceId", running FROM psi_engine_instance ORDER BY "instanceId"',
      );
      // "b" ended, but holds the text in a variable: it stays listed as running (restore() reads
      // it once more and skips it, as before); nothing running is ever left out.
      expect(rows.map((r) => [r.instanceId, Number(r.running)])).toEqual([
        ['a', 1],
        ['b', 1],
        ['c', 0],
      ]);
      expect(await store.engineStates().list('xstate', { running: true })).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
