import { OnResponse, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  useTempDir,
  type Harness,
} from './fixtures';

// Issue 17: group commit puts the units of several flows into one transaction, one after
// another. Read-then-decide steps must decide as they do alone when the units that race are in
// the same batch: each test holds the store's queue with a unit of its own, lets the racing
// units queue behind it, then lets them all run as one batch.

abstract class Supplier {
  abstract order(request: Record<string, never>): Promise<void>;
}

// A test holds the service call here, to queue its unit (expectations + outbox) at a chosen
// moment; `atGate` tells it the call is waiting there.
let callGate: Promise<void> = Promise.resolve();
let atGate: () => void = () => undefined;

@ServiceAdapter({ step: 'order', service: 'supplier' })
class OrderAdapter {
  @UseService(Supplier) supplier!: Supplier;

  async callService(): Promise<void> {
    atGate();
    await callGate;
    await this.supplier.order({});
  }

  // Also by business key: an answer can then come before the request is recorded.
  @OnResponse('confirmed', {
    waitState: 'await-confirmation',
    group: 'answer',
    businessKey: { orderNo: 'orderNo' },
  })
  confirmed(): string {
    handled.push('confirmed');
    return 'confirmed';
  }

  @OnResponse('refused', { waitState: 'await-confirmation', group: 'answer' })
  refused(): string {
    handled.push('refused');
    return 'refused';
  }
}

const handled: string[] = [];

const orderProcess = defineProcess({
  id: 'order',
  start: 'order',
  steps: {
    order: { kind: 'service', next: 'await-confirmation' },
    'await-confirmation': {
      kind: 'wait',
      transitions: { confirmed: 'done', refused: 'done' },
    },
    done: { kind: 'end' },
  },
});

/** A turn of the event loop: what was queued in this one has reached the store's queue. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describeEachStore('units of one batch racing', () => {
  const temp = useTempDir();
  let h: Harness;
  let supplier: RecordingService;

  beforeEach(async () => {
    handled.length = 0;
    callGate = Promise.resolve();
    atGate = () => undefined;
    supplier = new RecordingService({ order: undefined });
    h = await openHarness({
      file: temp.file(),
      definitions: [orderProcess],
      adapters: [OrderAdapter],
      services: { supplier: supplier.service },
      registry: { supplier: { transport: 'in-process', address: 'supplier' } },
    });
  });
  afterEach(() => h.close());

  /**
   * Holds the store's queue: the units queued until `release()` run as the batch after it.
   * Resolves once the holding unit runs (units queued in its turn would share its batch).
   */
  async function holdTheQueue(): Promise<{ release: () => Promise<void> }> {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let running!: () => void;
    const started = new Promise<void>((resolve) => (running = resolve));
    const holding = h.store.transaction(async () => {
      running();
      await gate;
    });
    await started;
    return {
      release: async () => {
        open();
        await holding;
      },
    };
  }

  /** Counts the units of work queued from now on. */
  function countUnits(): { queued: () => number } {
    const transaction = h.store.transaction.bind(h.store);
    let queued = 0;
    jest.spyOn(h.store, 'transaction').mockImplementation((work) => {
      queued++;
      return transaction(work);
    });
    return { queued: () => queued };
  }

  it('two answers of one group racing for the waiting instance: one is delivered, the other superseded', async () => {
    const id = await h.engine.start('order', {});
    await h.atStep(id, 'await-confirmation');
    const key = supplier.last().correlationKey;
    const queue = await holdTheQueue();
    const units = countUnits();
    const answers = Promise.all([
      h.coordinator.receive({
        event: 'confirmed',
        correlationKey: key,
        payload: {},
        messageId: 'a',
      }),
      h.coordinator.receive({ event: 'refused', correlationKey: key, payload: {}, messageId: 'b' }),
    ]);
    await nextTurn();
    expect(units.queued()).toBe(2); // both answers' decisions wait behind the holding unit
    await queue.release();

    const outcomes = (await answers).map((o) => o.status).sort();
    expect(outcomes).toEqual(['dead-lettered', 'delivered']);
    expect(handled).toHaveLength(1);
    await expect(h.engine.whenEnded(id)).resolves.toMatchObject({ status: 'completed' });
    const letters = await h.coordinator.deadLetters.list();
    expect(letters).toHaveLength(1);
    expect(['superseded', 'late']).toContain(letters[0].reason);
    expect(await h.query('SELECT status FROM psi_expectation ORDER BY status')).toEqual([
      { status: 'delivered' },
      { status: 'superseded' },
    ]);
  });

  it('an answer and the recording of its expectation in one batch: delivered once', async () => {
    let openCall!: () => void;
    callGate = new Promise((resolve) => (openCall = resolve));
    const waiting = new Promise<void>((resolve) => (atGate = resolve));
    const id = await h.engine.start('order', { orderNo: 'PO-1' });
    // callService waits before its first service call: nothing of the invocation is recorded.
    await waiting;
    const queue = await holdTheQueue();
    const units = countUnits();
    openCall(); // queues the invocation with its expectations and request
    const answer = h.coordinator.receive({
      event: 'confirmed',
      payload: { orderNo: 'PO-1' },
      messageId: 'early',
    });
    await nextTurn();
    expect(units.queued()).toBe(2); // the recording and the answer's decision, one batch
    await queue.release();

    expect(['parked', 'delivered']).toContain((await answer).status);
    await expect(h.engine.whenEnded(id)).resolves.toMatchObject({ status: 'completed' });
    expect(handled).toEqual(['confirmed']);
    expect(await h.coordinator.deadLetters.list()).toEqual([]);
    expect(await h.query('SELECT status FROM psi_expectation ORDER BY status')).toEqual([
      { status: 'delivered' },
      { status: 'superseded' },
    ]);
    expect(await h.query('SELECT seq FROM psi_parked_message')).toEqual([]);
  });

  it('the same message id twice in one batch, for a waiting instance: handled once, the other a duplicate', async () => {
    const id = await h.engine.start('order', {});
    await h.atStep(id, 'await-confirmation');
    const key = supplier.last().correlationKey;
    const message = { event: 'confirmed', correlationKey: key, payload: {}, messageId: 'twice' };
    const queue = await holdTheQueue();
    const answers = Promise.all([h.coordinator.receive(message), h.coordinator.receive(message)]);
    await nextTurn();
    await queue.release();

    expect((await answers).map((o) => o.status).sort()).toEqual(['delivered', 'duplicate']);
    expect(handled).toEqual(['confirmed']);
    expect(await h.coordinator.deadLetters.list()).toEqual([]);
    expect(await h.query('SELECT seq FROM psi_parked_message')).toEqual([]);
  });

  it('a failing unit in a batch of 64: the 63 answers commit, each counted once', async () => {
    const queue = await holdTheQueue();
    const before = h.coordinator.stats();
    const receive = (n: number) =>
      h.coordinator.receive({
        event: 'confirmed',
        correlationKey: `k-${n}`,
        payload: {},
        messageId: `m-${n}`,
      });
    const first = Array.from({ length: 32 }, (_, n) => receive(n));
    await nextTurn();
    const failing = h.store.transaction(async () => {
      throw new Error('this unit fails, so its batch runs again');
    });
    const rest = Array.from({ length: 31 }, (_, n) => receive(32 + n));
    await nextTurn();
    await queue.release();

    await expect(failing).rejects.toThrow('this unit fails');
    const outcomes = await Promise.all([...first, ...rest]);
    expect(outcomes.every((o) => o.status === 'parked')).toBe(true);
    const after = h.coordinator.stats();
    expect({
      received: after.received - before.received,
      parked: after.parked - before.parked,
      duplicates: after.duplicates - before.duplicates,
      deadLettered: after.deadLettered - before.deadLettered,
    }).toEqual({ received: 63, parked: 63, duplicates: 0, deadLettered: 0 });
    expect(await h.query('SELECT seq FROM psi_parked_message')).toHaveLength(63);
    expect(await h.query(`SELECT seq FROM psi_audit WHERE kind = 'parked'`)).toHaveLength(63);
  });
});
