import { AsyncResource } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { PsiStore } from './psi-store';

const POSTGRES_URL =
  process.env.PSI_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs `work` in the async context the test file started in: outside any carrying scope. */
const outside = new AsyncResource('outside-carry');
const runOutside = <T>(work: () => Promise<T>): Promise<T> => outside.runInAsyncScope(work);

// What a load in this process reads while a state saved on its own is still committing. On
// PostgreSQL units commit on several connections, so a unit that reads a state and then commits
// can overtake the state's own commit; a node killed between the two leaves the unit's record
// (a claim at the wait state the state put the instance at) beside the older state, and the
// next node strands the answer (the soak's "stuck at early-await"). On SQLite units commit in
// the order they were queued on one connection: anything decided on a state commits after it.
describe('PsiStore engine states on PostgreSQL: loads read what committed, or what was carried', () => {
  let store: PsiStore;
  const schema = `psi_reads_${process.pid}_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    store = await PsiStore.open({ url: POSTGRES_URL, schema, poolSize: 4 });
  });
  afterAll(async () => {
    await store.dataSource.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await store.close();
  });

  const repository = () => store.engineStates();
  const load = (id: string): Promise<string | undefined> => repository().load('e', id);

  /**
   * Holds the batch that units queued in this same turn join (a save's, say) before its COMMIT:
   * resolves once the batch runs, with the function that lets it commit. A unit queued after
   * runs in a batch of its own, on another connection.
   */
  function holdBatch(): Promise<{ commit(): Promise<void> }> {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    return new Promise((running) => {
      const held = store.transaction(async () => {
        running({ commit: () => (open(), held) });
        await gate;
      });
    });
  }

  it('reads a state saved on its own only once it committed, not while its commit waits', async () => {
    await repository().save('e', 'i1', 'at-timer');
    const saving = runOutside(() => repository().save('e', 'i1', 'at-wait-state'));
    const batch = await holdBatch();
    try {
      // What is committed: a claim made on the newer state could commit before it.
      expect(await load('i1')).toBe('at-timer');
    } finally {
      await batch.commit();
    }
    await saving;
    expect(await load('i1')).toBe('at-wait-state');
  });

  it('reads a carried state until a later save on its own committed, then that one', async () => {
    await repository().save('e', 'i2', 'committed');
    await store.carryingEngineStates(async () => {
      await repository().save('e', 'i2', 'carried');
      // An engine timer, say: its save commits on its own, with the newest state of the instance.
      const saving = runOutside(() => repository().save('e', 'i2', 'after-timer'));
      const batch = await holdBatch();
      try {
        expect(await runOutside(() => load('i2'))).toBe('carried');
      } finally {
        await batch.commit();
      }
      await saving;
      expect(await runOutside(() => load('i2'))).toBe('after-timer');
    });
    expect(await load('i2')).toBe('after-timer');
  });
});
