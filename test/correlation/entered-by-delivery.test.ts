import { InProcessTransport } from '@psi/adapters';
import {
  Coordinator,
  Input,
  OnResponse,
  Output,
  PsiStore,
  ServiceAdapter,
  UseService,
  WaitBinding,
} from '@psi/core';
import { defineProcess, ReferenceEngine } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import {
  dropSchemas,
  freshSchemaName,
  testStoreKinds,
  TEST_POSTGRES_URL,
} from '../foundation/test-stores';
import { waitUntil } from './fixtures';
import { holdInstanceRow } from './held-row';

// The soak's "handlers doubled": a delivery's signal enters a service step. The engine's new
// state is carried into the delivery's record (one commit for both), but the step's invocation
// started in the background and committed on its own, before that record. A node killed
// between the two left an invocation for an activation the engine never durably reached: the
// answer was delivered again on restart (entering the step anew), and the orphan was taken
// over and sent as well, its answer taken at a later visit of the wait state. The invocation
// must commit only after the state that entered its step.

abstract class Shop {
  abstract order(request: { item: string }): Promise<void>;
  abstract ship(request: { item: string }): Promise<void>;
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

@ServiceAdapter({ step: 'ship', service: 'shop' })
class ShipAdapter {
  @Input() item!: string;
  @UseService(Shop) shop!: Shop;

  async callService(): Promise<void> {
    await this.shop.ship({ item: this.item });
  }

  @OnResponse('shipped', { waitState: 'await-shipment' })
  shipped(): string {
    return 'shipped';
  }
}

const shopProcess = defineProcess({
  id: 'shop',
  start: 'order',
  steps: {
    order: { kind: 'service', next: 'await-confirmation' },
    'await-confirmation': { kind: 'wait', transitions: { confirmed: 'ship' } },
    ship: { kind: 'service', next: 'await-shipment' },
    'await-shipment': { kind: 'wait', transitions: { shipped: 'done' } },
    done: { kind: 'end' },
  },
});

/**
 * An engine with work of its own after the events it emits (as bpmn-engine has): the signal
 * returns a turn later, so the step's invocation is queued to the store a turn before the
 * delivery's record and commits in a batch of its own.
 */
class EngineWithWorkAfterEvents extends ReferenceEngine {
  override async signal(...args: Parameters<ReferenceEngine['signal']>): Promise<void> {
    await super.signal(...args);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const onPostgres = testStoreKinds().includes('postgres') ? describe : describe.skip;

onPostgres('a service step entered by a delivery (PostgreSQL)', () => {
  const schema = freshSchemaName('entered');
  let store: PsiStore;
  let observer: PsiStore;
  let engine: EngineWithWorkAfterEvents;
  let coordinator: Coordinator;
  const orders: string[] = [];
  // The step the store's committed row shows whenever the shipping service is called.
  const committedAtShip: string[] = [];
  const problems: string[] = [];
  let id = '';

  const committedStep = async (instanceId: string): Promise<string> => {
    const [row] = (await observer.dataSource.query(
      `SELECT state FROM psi_engine_instance WHERE "instanceId" = $1`,
      [instanceId],
    )) as Array<{ state: string }>;
    return (JSON.parse(row.state) as { at?: { step: string } }).at?.step ?? '(none)';
  };

  beforeAll(async () => {
    store = await PsiStore.open({ url: TEST_POSTGRES_URL, schema, poolSize: 10 });
    observer = await PsiStore.open({ url: TEST_POSTGRES_URL, schema, poolSize: 2, migrate: false });
    engine = new EngineWithWorkAfterEvents({
      definitions: [shopProcess],
      stateRepository: store.engineStates(),
      onError: (error) => problems.push(String(error)),
    });
    coordinator = await Coordinator.create({
      store,
      engine,
      registry: new StaticRegistry({ shop: { transport: 'in-process', address: 'shop' } }),
      transports: [
        new InProcessTransport().register('shop', {
          order: (_payload, context) => void orders.push(context.correlationKey),
          ship: async () => {
            committedAtShip.push(await committedStep(id));
          },
        }),
      ],
      adapters: [OrderAdapter, ShipAdapter],
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
    await observer.close();
    await store.close();
    await dropSchemas([schema]);
  });

  it('commits its invocation only after the state that entered the step', async () => {
    id = await engine.start('shop', { item: 'book' });
    await coordinator.idle();
    expect(await committedStep(id)).toBe('await-confirmation');
    // Another connection holds the instance's row: the delivery's record (which carries the
    // state at "ship") waits to commit.
    const held = await holdInstanceRow(observer, id);
    const invocationsOfShip = async (): Promise<number> =>
      (
        await held.query(`SELECT 1 FROM psi_invocation WHERE "instanceId" = $1 AND step = 'ship'`, [
          id,
        ])
      ).length;
    let delivering: Promise<unknown> | undefined;
    try {
      delivering = coordinator.receive({
        event: 'confirmed',
        correlationKey: orders[0],
        messageId: 'confirmed-1',
        sender: 'shop',
        payload: {},
      });
      await held.waitedOn("the delivery's record waits on the held row");
      // The invocation of "ship" must not commit now: a node killed here would leave it beside
      // a state still at "await-confirmation". Read a few times while its step could run (how
      // often decides only how surely the old order shows, never whether the check holds).
      for (let read = 0; read < 50; read += 1) {
        expect(await invocationsOfShip()).toBe(0);
      }
    } finally {
      await held.release();
    }
    await delivering;
    await waitUntil(() => committedAtShip.length > 0, 'the shipping service is called');
    await coordinator.idle();
    expect(committedAtShip).toEqual(['ship']);
    expect(await committedStep(id)).toBe('await-shipment');
    expect(problems).toEqual([]);
  });
});

// The same for a wait state a delivery enters again (a loop through it): what the new entry
// waits for (a wait binding's expectation) was recorded in the background and could commit
// before the state; a node killed between the two left an open expectation of an entry the
// engine never durably reached, beside the one the redelivery records for its own entry, and
// the next payment matched both (dead-lettered "ambiguous").

@WaitBinding()
class PaymentWait {
  @Input() @Output() paid?: number;

  @OnResponse('payment-received', {
    waitState: 'await-payment',
    businessKey: { orderNumber: 'orderNumber' },
  })
  received(payment: { amount: number }): string {
    this.paid = (this.paid ?? 0) + payment.amount;
    return this.paid >= 100 ? 'paid' : 'partly';
  }
}

const paymentProcess = defineProcess({
  id: 'payments',
  start: 'await-payment',
  steps: {
    'await-payment': { kind: 'wait', transitions: { paid: 'done', partly: 'await-payment' } },
    done: { kind: 'end' },
  },
});

onPostgres('a wait state entered again by a delivery (PostgreSQL)', () => {
  const schema = freshSchemaName('reentered');
  let store: PsiStore;
  let observer: PsiStore;
  let engine: EngineWithWorkAfterEvents;
  let coordinator: Coordinator;
  const problems: string[] = [];

  beforeAll(async () => {
    store = await PsiStore.open({ url: TEST_POSTGRES_URL, schema, poolSize: 10 });
    observer = await PsiStore.open({ url: TEST_POSTGRES_URL, schema, poolSize: 2, migrate: false });
    engine = new EngineWithWorkAfterEvents({
      definitions: [paymentProcess],
      stateRepository: store.engineStates(),
      onError: (error) => problems.push(String(error)),
    });
    coordinator = await Coordinator.create({
      store,
      engine,
      registry: new StaticRegistry({}),
      transports: [],
      adapters: [],
      waitBindings: [PaymentWait],
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
    await observer.close();
    await store.close();
    await dropSchemas([schema]);
  });

  it("records the new entry's expectation only after the state that entered it", async () => {
    const id = await engine.start('payments', { orderNumber: 'PO-7' });
    await coordinator.idle();
    const expectations = async (
      query: (sql: string, parameters: unknown[]) => Promise<unknown>,
    ): Promise<Array<{ status: string }>> =>
      (await query(
        'SELECT status FROM psi_expectation WHERE "instanceId" = $1 ORDER BY "createdAt", id',
        [id],
      )) as Array<{ status: string }>;
    expect(await expectations((sql, p) => observer.dataSource.query(sql, p))).toEqual([
      { status: 'open' },
    ]);
    const held = await holdInstanceRow(observer, id);
    let paying: Promise<unknown> | undefined;
    try {
      paying = coordinator.receive({
        event: 'payment-received',
        messageId: 'payment-1',
        payload: { orderNumber: 'PO-7', amount: 40 },
      });
      await held.waitedOn("the delivery's record waits on the held row");
      // A node killed now leaves only the first entry's expectation, claimed by this payment.
      for (let read = 0; read < 50; read += 1) {
        expect(await expectations((sql, p) => held.query(sql, p))).toEqual([{ status: 'claimed' }]);
      }
    } finally {
      await held.release();
    }
    await paying;
    await coordinator.idle();
    expect(await expectations((sql, p) => observer.dataSource.query(sql, p))).toEqual([
      { status: 'delivered' },
      { status: 'open' },
    ]);
    expect(
      await coordinator.receive({
        event: 'payment-received',
        messageId: 'payment-2',
        payload: { orderNumber: 'PO-7', amount: 60 },
      }),
    ).toMatchObject({ status: 'delivered' });
    expect((await engine.whenEnded(id)).variables).toMatchObject({ paid: 100 });
    expect(problems).toEqual([]);
  });
});
