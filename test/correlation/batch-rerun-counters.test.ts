import { OtelKit } from '../observability/otel-kit';
import { OnResponse, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  useTempDir,
  type Harness,
} from './fixtures';

// Issue 17: group commit runs the units of a batch again when one of them fails (SQLite: the
// batch again with a savepoint per unit; PostgreSQL: each unit alone). A unit is safe to run
// twice for the database, so what it does besides (counters, wake-ups) must happen once, after
// its commit: `coordinator.stats()` counts each answer once however often its unit ran.

abstract class Supplier {
  abstract order(request: Record<string, never>): Promise<void>;
}

@ServiceAdapter({ step: 'order', service: 'supplier' })
class OrderAdapter {
  @UseService(Supplier) supplier!: Supplier;

  async callService(): Promise<void> {
    await this.supplier.order({});
  }

  @OnResponse('confirmed', { waitState: 'await-confirmation' })
  confirmed(): string {
    return 'confirmed';
  }
}

const orderProcess = defineProcess({
  id: 'order',
  start: 'order',
  steps: {
    order: { kind: 'service', next: 'await-confirmation' },
    'await-confirmation': { kind: 'wait', transitions: { confirmed: 'done' } },
    done: { kind: 'end' },
  },
});

describeEachStore('a batch run again because one of its units failed', () => {
  const temp = useTempDir();
  let h: Harness;
  let kit: OtelKit;

  beforeEach(async () => {
    kit = new OtelKit();
    const supplier = new RecordingService({ order: undefined });
    h = await openHarness({
      file: temp.file(),
      definitions: [orderProcess],
      adapters: [OrderAdapter],
      services: { supplier: supplier.service },
      registry: { supplier: { transport: 'in-process', address: 'supplier' } },
      coordinator: { observability: kit.options() },
    });
  });
  afterEach(async () => {
    await h.close();
    await kit.shutdown();
  });

  it('counts each answer once in coordinator.stats()', async () => {
    const first = { event: 'confirmed', correlationKey: 'k-0', payload: {}, messageId: 'm-0' };
    expect(await h.coordinator.receive(first)).toMatchObject({ status: 'parked' });
    // A unit that holds the store's queue until the answers' units and the failing one queued
    // behind it, so they are committed as one batch; a turn of the event loop lets its own
    // batch start first.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const holding = h.store.transaction(() => gate);
    await new Promise((resolve) => setImmediate(resolve));
    const before = h.coordinator.stats();

    const answers = Promise.all([
      // The first message again: a duplicate.
      h.coordinator.receive(first),
      // No expectation: parked.
      h.coordinator.receive({
        event: 'confirmed',
        correlationKey: 'k-1',
        payload: {},
        messageId: 'm-1',
      }),
      // An event nobody declares: dead-lettered.
      h.coordinator.receive({
        event: 'confirmd',
        correlationKey: 'k-2',
        payload: {},
        messageId: 'm-2',
      }),
    ]);
    // receive() reaches its unit of work after a few promise steps (registry, engine model),
    // no I/O: they have all run before the next turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    const failing = h.store.transaction(async () => {
      throw new Error('this unit fails, so its batch runs again');
    });
    open();

    await holding;
    await expect(failing).rejects.toThrow('this unit fails');
    expect((await answers).map((o) => o.status)).toEqual(['duplicate', 'parked', 'dead-lettered']);
    const after = h.coordinator.stats();
    expect({
      received: after.received - before.received,
      parked: after.parked - before.parked,
      duplicates: after.duplicates - before.duplicates,
      deadLettered: after.deadLettered - before.deadLettered,
    }).toEqual({ received: 3, parked: 1, duplicates: 1, deadLettered: 1 });
    // The OpenTelemetry counters and the spans made after commit count the same (the first
    // answer's park included).
    expect(await kit.value('psi.answers.received')).toBe(4);
    expect(await kit.value('psi.answers.parked')).toBe(2);
    expect(await kit.value('psi.answers.duplicates')).toBe(1);
    expect(await kit.value('psi.dead_letters.created')).toBe(1);
    expect(kit.names().filter((name) => name === 'park confirmed')).toHaveLength(2);
    expect(kit.names().filter((name) => name.startsWith('dead-letter'))).toHaveLength(1);
  });
});
