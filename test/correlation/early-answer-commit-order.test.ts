import { InProcessTransport, type InProcessCallContext } from '@psi/adapters';
import {
  Coordinator,
  Input,
  OnResponse,
  PsiStore,
  ServiceAdapter,
  UseService,
  type EngineStateRepository,
} from '@psi/core';
import { defineProcess, ManualTimers, ReferenceEngine } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import {
  dropSchemas,
  freshSchemaName,
  testStoreKinds,
  TEST_POSTGRES_URL,
} from '../foundation/test-stores';
import { waitUntil } from './fixtures';
import { holdInstanceRow } from './held-row';

// The soak's "stuck at early-await": an answer comes while the instance sits at an engine timer;
// the timer fires and the state that puts the instance at its wait state is still committing
// (its unit waits on a lock) when the answer is looked at. The answer must be parked, not
// claimed: on PostgreSQL a claim commits on another connection and could commit before the
// state; a node killed between the two left the claim beside the timer's state, and the next
// node cancelled it as "the instance left the wait state without it" and then moved the
// instance to the wait state with nothing left to deliver. On SQLite units commit in the order
// they were queued, on one connection: this window does not exist there.

abstract class Shop {
  abstract order(request: { item: string }): Promise<void>;
}

@ServiceAdapter({ step: 'order', service: 'shop' })
class OrderAdapter {
  @Input() item!: string;
  @UseService(Shop) shop!: Shop;

  async callService(): Promise<void> {
    await this.shop.order({ item: this.item });
  }

  @OnResponse('confirmed', { waitState: 'await-confirmation' })
  confirmed(): string {
    return 'confirmed';
  }
}

const PAUSE_MS = 300;
const orderProcess = defineProcess({
  id: 'order',
  start: 'order',
  steps: {
    order: { kind: 'service', next: 'pause' },
    pause: { kind: 'timer', durationMs: PAUSE_MS, next: 'await-confirmation' },
    'await-confirmation': { kind: 'wait', transitions: { confirmed: 'done' } },
    done: { kind: 'end' },
  },
});

const onPostgres = testStoreKinds().includes('postgres') ? describe : describe.skip;

onPostgres('an early answer while its wait state is still committing (PostgreSQL)', () => {
  const schema = freshSchemaName('early');
  let store: PsiStore;
  let blocker: PsiStore;
  let engine: ReferenceEngine;
  let coordinator: Coordinator;
  const timers = new ManualTimers(Date.now());
  const calls: InProcessCallContext[] = [];
  const problems: string[] = [];
  // Told of each engine state as the engine saves it.
  let saved: (state: string) => void = () => undefined;

  beforeAll(async () => {
    // Wired by hand for a pool that has connections left while one waits on the held row.
    store = await PsiStore.open({ url: TEST_POSTGRES_URL, schema, poolSize: 10 });
    blocker = await PsiStore.open({ url: TEST_POSTGRES_URL, schema, poolSize: 2, migrate: false });
    const repository = store.engineStates();
    // The real repository, told of each save as it starts.
    const observed: EngineStateRepository = {
      save: (name, instanceId, state, index) => {
        saved(state);
        return repository.save(name, instanceId, state, index);
      },
      load: (name, instanceId) => repository.load(name, instanceId),
      delete: (name, instanceId) => repository.delete(name, instanceId),
      list: (name, filter) => repository.list(name, filter),
    };
    engine = new ReferenceEngine({
      definitions: [orderProcess],
      stateRepository: observed,
      timers,
      clock: () => timers.now(),
      onError: (error) => problems.push(String(error)),
      // Every read of the state goes to the repository, as after an eviction from the cache.
      cacheSize: 0,
    });
    coordinator = await Coordinator.create({
      store,
      engine,
      registry: new StaticRegistry({ shop: { transport: 'in-process', address: 'shop' } }),
      transports: [
        new InProcessTransport().register('shop', {
          order: (_payload, context) => void calls.push(context),
        }),
      ],
      adapters: [OrderAdapter],
      logger: {
        warn: (message) => problems.push(message),
        error: (message) => problems.push(message),
      },
    });
    await coordinator.start();
  });
  afterAll(async () => {
    await coordinator.close();
    await engine.stop();
    await blocker.close();
    await store.close();
    await dropSchemas([schema]);
  });

  it('is parked, not claimed ahead of that state, and delivered once the state committed', async () => {
    const id = await engine.start('order', { item: 'book' });
    await coordinator.idle();
    expect(await engine.getInstance(id)).toMatchObject({ currentStep: 'pause' });
    // Another connection holds the instance's row: the timer's state waits to commit.
    const held = await holdInstanceRow(blocker, id);
    const atWaitState = new Promise<void>((resolve) => {
      saved = (state) => {
        if (state.includes('"step":"await-confirmation"')) resolve();
      };
    });
    timers.advance(PAUSE_MS);
    const expectationStatus = async (): Promise<Array<{ status: string }>> =>
      held.query<{ status: string }>(`SELECT status FROM psi_expectation WHERE "instanceId" = $1`, [
        id,
      ]);
    let receiving: Promise<unknown> | undefined;
    try {
      await atWaitState; // the engine saved it
      // Its commit waits on the row (and nothing else joins that batch now).
      await held.waitedOn('the state waits on the held row');
      let answered = false;
      receiving = coordinator
        .receive({
          event: 'confirmed',
          correlationKey: calls[0].correlationKey,
          messageId: 'confirmed-1',
          sender: 'shop',
          payload: {},
        })
        .finally(() => (answered = true));
      // Parked (receive returns), or claimed ahead of the state (the delivery then waits for it).
      await waitUntil(
        async () => answered || (await expectationStatus())[0].status === 'claimed',
        'the answer is parked or claimed',
      );
      // What a node killed now leaves: the answer parked, the expectation open, nothing claimed.
      expect(await expectationStatus()).toEqual([{ status: 'open' }]);
    } finally {
      await held.release();
    }
    expect(await receiving).toMatchObject({ status: 'parked' });
    expect(await engine.whenEnded(id)).toMatchObject({
      status: 'completed',
      history: ['order', 'pause', 'await-confirmation', 'done'],
    });
    await coordinator.idle();
    expect((await coordinator.auditTrail(id)).map((e) => e.kind)).toEqual(
      expect.arrayContaining(['parked', 'released', 'delivered']),
    );
    expect(problems).toEqual([]);
  });
});
