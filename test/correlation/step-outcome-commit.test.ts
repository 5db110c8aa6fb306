import { InProcessTransport } from '@psi/adapters';
import {
  BusinessError,
  Coordinator,
  Input,
  OnResponse,
  PsiStore,
  ServiceAdapter,
  UseService,
} from '@psi/core';
import { defineProcess, ReferenceEngine } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import {
  dropSchemas,
  freshSchemaName,
  testStoreKinds,
  TEST_POSTGRES_URL,
} from '../foundation/test-stores';
import { holdInstanceRow, type HeldRow } from './held-row';

// The 3-process SIGKILL test's hang: a node recorded a service step's outcome (the invocation
// `waiting`) in one commit and the engine's move out of the step in the next. A replacement
// node's restore() in between saw the finished invocation beside a state still at the step and
// signalled the step again (as it must after a crash there), from the state it had read. Two
// nodes moved the instance out of the step from the same state, and the later of the two writes
// won: once it came after the delivery that had ended the instance meanwhile, and the instance
// was left waiting for good. The outcome must commit with the engine's move, never before it.

abstract class Billing {
  abstract charge(request: { account: string }): Promise<void>;
}

@ServiceAdapter({ step: 'charge', service: 'billing' })
class ChargeAdapter {
  @Input() account!: string;
  @UseService(Billing) billing!: Billing;

  async callService(): Promise<void> {
    await this.billing.charge({ account: this.account });
    if (this.account === 'blocked')
      throw new BusinessError('ACCOUNT_BLOCKED', 'blocked', 'refused');
  }

  @OnResponse('charged', { waitState: 'await-receipt' })
  charged(): string {
    return 'charged';
  }
}

const billingProcess = defineProcess({
  id: 'billing',
  start: 'charge',
  steps: {
    charge: { kind: 'service', next: 'await-receipt', transitions: { refused: 'refused' } },
    'await-receipt': { kind: 'wait', transitions: { charged: 'done' } },
    done: { kind: 'end' },
    refused: { kind: 'end' },
  },
});

const onPostgres = testStoreKinds().includes('postgres') ? describe : describe.skip;

onPostgres("a service step's outcome and the engine's move out of the step (PostgreSQL)", () => {
  const schema = freshSchemaName('outcome');
  let store: PsiStore;
  let observer: PsiStore;
  let engine: ReferenceEngine;
  let coordinator: Coordinator;
  const problems: string[] = [];
  // The service holds the instance's row while it is called: the unit that writes the
  // engine's next state waits until the test releases it.
  let holding: Promise<HeldRow> | undefined;
  let correlationKey = '';
  // A second node on the schema: it reads only committed engine states.
  let otherStore: PsiStore;
  let otherEngine: ReferenceEngine;
  let other: Coordinator;

  beforeAll(async () => {
    store = await PsiStore.open({ url: TEST_POSTGRES_URL, schema, poolSize: 10 });
    observer = await PsiStore.open({ url: TEST_POSTGRES_URL, schema, poolSize: 2, migrate: false });
    engine = new ReferenceEngine({
      definitions: [billingProcess],
      stateRepository: store.engineStates(),
      onError: (error) => problems.push(String(error)),
    });
    coordinator = await Coordinator.create({
      store,
      engine,
      registry: new StaticRegistry({ billing: { transport: 'in-process', address: 'billing' } }),
      transports: [
        new InProcessTransport().register('billing', {
          charge: async (_payload, context) => {
            correlationKey = context.correlationKey;
            const [row] = (await observer.dataSource.query(
              `SELECT "instanceId" FROM psi_invocation WHERE id = $1`,
              [context.requestId.split(':')[0]],
            )) as Array<{ instanceId: string }>;
            holding = holdInstanceRow(observer, row.instanceId);
            await holding;
          },
        }),
      ],
      adapters: [ChargeAdapter],
      logger: {
        warn: (message) => problems.push(message),
        error: (message) => problems.push(message),
      },
    });
    await coordinator.start();
    otherStore = await PsiStore.open({
      url: TEST_POSTGRES_URL,
      schema,
      poolSize: 4,
      migrate: false,
    });
    otherEngine = new ReferenceEngine({
      definitions: [billingProcess],
      stateRepository: otherStore.engineStates(),
      cacheSize: 0,
      onError: (error) => problems.push(String(error)),
    });
    other = await Coordinator.create({
      store: otherStore,
      engine: otherEngine,
      registry: new StaticRegistry({}),
      transports: [],
      adapters: [ChargeAdapter],
      nodeId: 'other-node',
      logger: {
        warn: (message) => problems.push(message),
        error: (message) => problems.push(message),
      },
    });
    await other.start();
  });
  afterAll(async () => {
    await other.close();
    await otherEngine.stop();
    await otherStore.close();
    await coordinator.close();
    await engine.stop();
    await observer.close();
    await store.close();
    await dropSchemas([schema]);
  });

  const seenWhileHeld = async (
    account: string,
    meanwhile: (id: string) => Promise<void> = async () => undefined,
  ): Promise<{ id: string; status: string; step: string; finalStep: string }> => {
    holding = undefined;
    const id = await engine.start('billing', { account });
    const waitForHold = async (): Promise<HeldRow> => {
      // The service is called once the invocation's first request committed.
      for (;;) {
        if (holding) return holding;
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const held = await waitForHold();
    let status: string;
    let step: string;
    try {
      await held.waitedOn('the unit writing the engine state waits on the held row');
      const [invocation] = await held.query<{ status: string }>(
        `SELECT status FROM psi_invocation WHERE "instanceId" = $1`,
        [id],
      );
      const [state] = await held.query<{ state: string }>(
        `SELECT state FROM psi_engine_instance WHERE "instanceId" = $1`,
        [id],
      );
      status = invocation.status;
      step = (JSON.parse(state.state) as { at?: { step: string } }).at?.step ?? '(none)';
      await meanwhile(id);
    } finally {
      await held.release();
    }
    await coordinator.idle();
    const final = await engine.getInstance(id);
    return { id, status, step, finalStep: final.history.at(-1) ?? '(none)' };
  };

  it('commits the outcome with the state that leaves the step: no node reads one without the other', async () => {
    const seen = await seenWhileHeld('acme');
    // Recorded first, the invocation showed `waiting` here beside a state still at "charge".
    expect(seen).toMatchObject({ status: 'running', step: 'charge', finalStep: 'await-receipt' });
    const [row] = (await observer.dataSource.query(
      `SELECT status FROM psi_invocation WHERE "instanceId" = $1`,
      [seen.id],
    )) as Array<{ status: string }>;
    expect(row.status).toBe('waiting');
    expect(problems).toEqual([]);
  });

  it('releases an answer another node parked while the state that reaches the wait state was committing', async () => {
    // The other node reads the committed state (still at "charge") and parks the answer. The
    // release this node starts on reaching the wait state must read after its state commits:
    // read at once, it found nothing, and the answer stayed parked for good.
    let outcome: unknown;
    const seen = await seenWhileHeld('globex', async () => {
      outcome = await other.receive({
        event: 'charged',
        correlationKey,
        messageId: 'receipt-globex',
        payload: {},
      });
    });
    expect(outcome).toMatchObject({ status: 'parked' });
    await other.idle();
    await coordinator.idle();
    expect(seen.step).toBe('charge');
    expect((await engine.getInstance(seen.id)).history.at(-1)).toBe('done');
    expect(problems).toEqual([]);
  });

  it('claims an answer this node receives meanwhile only after the state that reaches the wait state committed', async () => {
    // This node reads the carried state (the instance at its wait state) before it commits. A
    // claim made on it committed first, and a crash between left a claim on a wait state the
    // instance never durably reached: settled late on restart, and the instance waited there
    // for good. The receive waits for the outcome's commit, as for a delivery's: the outcome
    // holds the instance's lock, and on PostgreSQL its record's share lock on the expectation
    // holds the claim back too (either alone keeps the order here; the lock is what SQLite and
    // a claim run ahead on another lane rely on).
    let receiving: Promise<unknown> | undefined;
    const claimsSeen: string[] = [];
    const seen = await seenWhileHeld('initech', async (id) => {
      receiving = coordinator.receive({
        event: 'charged',
        correlationKey,
        messageId: 'receipt-initech',
        payload: {},
      });
      // Read a few times while a claim could commit (how often decides only how surely the
      // old order shows, never whether the check holds).
      const held = await holding!;
      for (let read = 0; read < 100; read += 1) {
        const rows = await held.query<{ status: string }>(
          `SELECT status FROM psi_expectation WHERE "instanceId" = $1`,
          [id],
        );
        claimsSeen.push(...rows.map((row) => row.status).filter((status) => status !== 'open'));
      }
    });
    expect(claimsSeen).toEqual([]);
    expect(await receiving).toMatchObject({ status: 'delivered' });
    await coordinator.idle();
    expect(seen.step).toBe('charge');
    expect((await engine.getInstance(seen.id)).history.at(-1)).toBe('done');
    expect(problems).toEqual([]);
  });

  it('commits a business outcome with the transition it takes', async () => {
    const seen = await seenWhileHeld('blocked');
    expect(seen).toMatchObject({ status: 'running', step: 'charge', finalStep: 'refused' });
    expect(problems).toEqual([]);
  });
});
