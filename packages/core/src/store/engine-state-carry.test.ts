import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AsyncResource } from 'node:async_hooks';
import { PsiStore, type EngineStateCarry } from './psi-store';

/** Runs `work` in the async context the test file started in: outside any carrying scope. */
const outside = new AsyncResource('outside-carry');
const runOutside = <T>(work: () => Promise<T>): Promise<T> => outside.runInAsyncScope(work);

/** Engine states saved in a carrying scope commit with the scope's next unit of work. */
describe('PsiStore.carryingEngineStates', () => {
  let dir: string;
  let store: PsiStore;
  let other: PsiStore;
  let begins: number;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-carry-'));
    store = await PsiStore.open({ sqlitePath: path.join(dir, 'a.sqlite') });
    other = await PsiStore.open({ sqlitePath: path.join(dir, 'b.sqlite') });
    begins = 0;
    const runner = store.dataSource.createQueryRunner();
    const query = runner.query.bind(runner);
    // SQLite's query runner is shared: count the transactions the store begins.
    runner.query = ((sql: string, ...rest: unknown[]) => {
      if (/^BEGIN/.test(sql)) begins++;
      return (query as (...args: unknown[]) => Promise<unknown>)(sql, ...rest);
    }) as typeof runner.query;
  });
  afterEach(async () => {
    await store.close();
    await other.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const stateIn = (s: PsiStore, id: string): Promise<string | undefined> =>
    s.engineStates().load('e', id);
  const unit = (carry?: EngineStateCarry): Promise<number> =>
    store.transaction(async (tx) => tx.query('SELECT 1'), carry);

  it('writes a save with the next unit run with the carry, in the same transaction', async () => {
    await store.carryingEngineStates(async (carry) => {
      await store.engineStates().save('e', 'i1', 'after-signal');
      expect(begins).toBe(0); // not committed on its own
      await unit(carry);
      expect(begins).toBe(1);
    });
    expect(begins).toBe(1);
    expect(await stateIn(store, 'i1')).toBe('after-signal');
  });

  it('leaves the rows to the flow: a unit run in the scope without the carry does not take them', async () => {
    await store.carryingEngineStates(async () => {
      await store.engineStates().save('e', 'i1', 'carried');
      await unit(); // an engine event's work, say
      expect(
        await runOutside(() => store.dataSource.query('SELECT 1 FROM psi_engine_instance')),
      ).toEqual([]);
    });
    expect(begins).toBe(2); // the unit, then the scope's end writing the state
    expect(await stateIn(store, 'i1')).toBe('carried');
  });

  it('writes what no unit took when the scope ends, the last save of an instance winning', async () => {
    await store.carryingEngineStates(async () => {
      await store.engineStates().save('e', 'i1', 'first');
      await store.engineStates().save('e', 'i1', 'second');
    });
    expect(begins).toBe(1);
    expect(await stateIn(store, 'i1')).toBe('second');
  });

  it('lets a load in the scope read the state carried so far', async () => {
    const seen = await store.carryingEngineStates(async () => {
      await store.engineStates().save('e', 'i1', 'carried');
      return stateIn(store, 'i1');
    });
    expect(seen).toBe('carried');
  });

  it('carries the rows of a unit that failed into the next one, or writes them at the end', async () => {
    await store.carryingEngineStates(async (carry) => {
      await store.engineStates().save('e', 'i1', 'kept');
      await expect(
        store.transaction(async () => {
          throw new Error('unit failed');
        }, carry),
      ).rejects.toThrow('unit failed');
    });
    expect(await stateIn(store, 'i1')).toBe('kept');
  });

  it('writes the carried rows when the work fails, and rethrows', async () => {
    await expect(
      store.carryingEngineStates(async () => {
        await store.engineStates().save('e', 'i1', 'saved');
        throw new Error('signal failed');
      }),
    ).rejects.toThrow('signal failed');
    expect(await stateIn(store, 'i1')).toBe('saved');
  });

  it('never writes an older state over a newer one that another unit committed first', async () => {
    await store.carryingEngineStates(async (carry) => {
      await store.engineStates().save('e', 'i1', 'older');
      // A later save of the instance, outside the scope, commits on its own first.
      await runOutside(() => store.engineStates().save('e', 'i1', 'newer'));
      await unit(carry); // takes the carried instance: writes its latest state
    });
    expect(await stateIn(store, 'i1')).toBe('newer');
  });

  it('lets a load outside the scope read a carried state before any unit committed it', async () => {
    await store.carryingEngineStates(async () => {
      await store.engineStates().save('e', 'i1', 'carried');
      expect(await runOutside(() => stateIn(store, 'i1'))).toBe('carried');
      expect(begins).toBe(0);
    });
  });

  it('does not bring back a state deleted after it was carried', async () => {
    await store.carryingEngineStates(async (carry) => {
      await store.engineStates().save('e', 'i1', 'carried');
      await runOutside(() => store.engineStates().delete('e', 'i1'));
      await unit(carry);
    });
    expect(await stateIn(store, 'i1')).toBeUndefined();
  });

  it("saves another store's states on their own", async () => {
    await store.carryingEngineStates(async () => {
      await other.engineStates().save('e', 'i2', 'elsewhere');
      expect(await stateIn(other, 'i2')).toBe('elsewhere');
    });
    expect(begins).toBe(0);
  });

  it('stops carrying once the scope ended, even in work the scope started', async () => {
    let later: Promise<void> | undefined;
    await store.carryingEngineStates(async () => {
      // A timer armed in the scope runs after it ended: its save commits on its own.
      later = new Promise<void>((resolve) =>
        setTimeout(() => void store.engineStates().save('e', 'i3', 'timer').then(resolve), 0),
      );
    });
    await later;
    expect(await stateIn(store, 'i3')).toBe('timer');
  });

  it('lets work started in the scope wait until the states carried in it committed', async () => {
    const committedWhenWoken: Array<string | undefined> = [];
    let started: Promise<void> | undefined;
    await store.carryingEngineStates(async (carry) => {
      await store.engineStates().save('e', 'i4', 'entered-step');
      // An engine event's work (an invocation): it must not act before the state is durable.
      started = store.carriedStatesCommitted().then(async () => {
        committedWhenWoken.push(
          await runOutside(async () => {
            const rows = (await store.dataSource.query(
              `SELECT state FROM psi_engine_instance WHERE "instanceId" = 'i4'`,
            )) as Array<{ state: string }>;
            return rows[0]?.state;
          }),
        );
      });
      await unit(carry); // the flow's record, carrying the state
    });
    await started;
    expect(committedWhenWoken).toEqual(['entered-step']);
    // Outside a scope, and in another store's scope, there is nothing to wait for.
    await store.carriedStatesCommitted();
    await other.carryingEngineStates(() => store.carriedStatesCommitted());
  });

  it('wakes the waiting work even when the scope failed (its states written at the end)', async () => {
    let waited: Promise<void> | undefined;
    await expect(
      store.carryingEngineStates(async () => {
        await store.engineStates().save('e', 'i5', 'entered-step');
        waited = store.carriedStatesCommitted();
        throw new Error('handler failed');
      }),
    ).rejects.toThrow('handler failed');
    await waited;
    expect(await stateIn(store, 'i5')).toBe('entered-step');
  });

  it('runs work riding with the carried states in the unit that takes them, one transaction', async () => {
    let rode: Promise<string> | undefined;
    await store.carryingEngineStates(async (carry) => {
      await store.engineStates().save('e', 'i6', 'left-entry');
      // An engine event's work: it rides, and the flow's unit commits it with the state.
      rode = store.rideWithCarriedStates(async (tx) => {
        await tx.query(`INSERT INTO psi_migrations ("timestamp", name) VALUES (1, 'rider')`);
        return 'rode';
      });
      expect(begins).toBe(0);
      await unit(carry);
      expect(begins).toBe(1);
    });
    expect(await rode).toBe('rode');
    expect(begins).toBe(1);
    expect(await stateIn(store, 'i6')).toBe('left-entry');
    // Outside a scope nothing rides.
    expect(store.rideWithCarriedStates(async () => 'no')).toBeUndefined();
  });

  it('commits a rider no unit took when the scope ends, and rejects it when that fails', async () => {
    let rode: Promise<void> | undefined;
    await store.carryingEngineStates(async () => {
      rode = store.rideWithCarriedStates(async () => undefined);
    });
    await expect(rode).resolves.toBeUndefined();
    expect(begins).toBe(1);
    let failing: Promise<void> | undefined;
    await store
      .carryingEngineStates(async () => {
        failing = store.rideWithCarriedStates(async (tx) => {
          await tx.query('SELECT * FROM no_such_table');
        });
      })
      .catch(() => undefined);
    await expect(failing).rejects.toThrow(/no_such_table/);
  });
});
