import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsString } from 'class-validator';
import {
  definingStoreKind,
  describeEachStore,
  openHarness,
  RecordingService,
  TestClock,
  useTempDir,
  waitUntil,
  type Harness,
} from '../correlation/fixtures';
import { captureStatements, scansAmong } from './statement-plans';

// Every statement the hot path (invoke, receive by either key, deliver, park, release), the
// deadline scheduler, start-up recovery (the lease sweep's queries), engine restore and
// retention send to the store is planned on an index: its cost does not grow with the rows that
// are not due, not open, or not this instance's. The statements are captured from the driver
// as the code issues them and planned with EXPLAIN; one whose plan scans a table fails here.

class Confirmation {
  @IsString() confirmationId!: string;
}

abstract class Supplier {
  abstract placeOrder(request: { orderNumber: string }): Promise<void>;
}

@ServiceAdapter({ step: 'order', service: 'supplier' })
class OrderAdapter {
  @Input() @IsString() orderNumber!: string;
  @Output() confirmationId?: string;
  @UseService(Supplier) supplier!: Supplier;
  async callService(): Promise<void> {
    await this.supplier.placeOrder({ orderNumber: this.orderNumber });
  }
  @OnResponse('confirmed', {
    waitState: 'await-confirmation',
    payload: Confirmation,
    timeoutMs: 60_000,
    timeoutTransition: 'timeout',
  })
  confirmed(answer: Confirmation): string {
    this.confirmationId = answer.confirmationId;
    return 'confirmed';
  }
}

/** Answered by business key (order number) without a correlation key. */
@ServiceAdapter({ step: 'legacy-order', service: 'supplier' })
class LegacyOrderAdapter {
  @Input() @IsString() orderNumber!: string;
  @UseService(Supplier) supplier!: Supplier;
  async callService(): Promise<void> {
    await this.supplier.placeOrder({ orderNumber: this.orderNumber });
  }
  @OnResponse('legacy-confirmed', {
    waitState: 'await-confirmation',
    payload: Confirmation,
    correlationKey: false,
    businessKey: { orderNumber: 'orderNumber' },
  })
  confirmed(): string {
    return 'confirmed';
  }
}

const steps = (first: string) => ({
  [first]: { kind: 'service' as const, next: 'await-confirmation' },
  'await-confirmation': {
    kind: 'wait' as const,
    transitions: { confirmed: 'done', timeout: 'timed-out' },
  },
  done: { kind: 'end' as const },
  'timed-out': { kind: 'end' as const },
});
const orderProcess = defineProcess({ id: 'order', start: 'order', steps: steps('order') });
const legacyProcess = defineProcess({
  id: 'legacy',
  start: 'legacy-order',
  steps: steps('legacy-order'),
});

describeEachStore('query plans', () => {
  const kind = definingStoreKind();
  const temp = useTempDir('psi-plans-');
  const open: Harness[] = [];
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close();
  });

  async function openAt(file: string, clock: TestClock, restore = false): Promise<Harness> {
    const supplier = new RecordingService({ placeOrder: undefined });
    const h = await openHarness({
      file,
      clock: clock.now,
      definitions: [orderProcess, legacyProcess],
      adapters: [OrderAdapter, LegacyOrderAdapter],
      services: { supplier: supplier.service },
      registry: { supplier: { transport: 'in-process', address: 'supplier' } },
      restore,
    });
    open.push(h);
    Object.assign(h, { supplier });
    return h;
  }
  const supplierOf = (h: Harness) => (h as Harness & { supplier: RecordingService }).supplier;

  it('plans every statement of the hot path, the scheduler, start-up, restore and retention on an index', async () => {
    const clock = new TestClock();
    const file = temp.file();
    let h = await openAt(file, clock);
    // Once migrated; the restart below is captured from its start (recovery, the lease sweep).
    const capture = captureStatements(kind);
    let waiting: string;
    try {
      // Invoke, answer by correlation key while waiting: deliver.
      const byKey = await h.engine.start('order', { orderNumber: 'PO-1' });
      await h.atStep(byKey, 'await-confirmation');
      await supplierOf(h).last().respond('confirmed', { confirmationId: 'C-1' });
      await h.engine.whenEnded(byKey);

      // An answer by business key before its expectation exists: parked, adopted, released.
      await h.coordinator.receive({
        messageId: 'early-1',
        event: 'legacy-confirmed',
        businessKey: { orderNumber: 'PO-2' },
        payload: { confirmationId: 'C-2' },
      });
      const early = await h.engine.start('legacy', { orderNumber: 'PO-2' });
      await h.engine.whenEnded(early);

      // An answer by business key while waiting.
      const byBusinessKey = await h.engine.start('legacy', { orderNumber: 'PO-3' });
      await h.atStep(byBusinessKey, 'await-confirmation');
      await h.coordinator.receive({
        messageId: 'late-3',
        event: 'legacy-confirmed',
        businessKey: { orderNumber: 'PO-3' },
        payload: { confirmationId: 'C-3' },
      });
      await h.engine.whenEnded(byBusinessKey);

      // One left waiting with a deadline; retention runs.
      waiting = await h.engine.start('order', { orderNumber: 'PO-4' });
      await h.atStep(waiting, 'await-confirmation');
      await h.coordinator.sweepRetention();
      await h.coordinator.idle();
      await h.close();
      open.splice(open.indexOf(h), 1);

      // A restart past the deadline: start-up recovery (the lease sweep's queries), restore, and
      // the scheduler firing the timeout.
      clock.advance(120_000);
      h = await openAt(file, clock);
      await h.engine.restore();
      const final = await waitUntil(async () => {
        const snapshot = await h.engine.getInstance(waiting);
        return snapshot.status === 'completed' ? snapshot : undefined;
      }, 'the timeout fired');
      expect(final.history).toEqual(['order', 'await-confirmation', 'timed-out']);
      await h.coordinator.idle();
    } finally {
      capture.stop();
    }

    expect(h.problems).toEqual([]);
    expect(capture.statements.length).toBeGreaterThan(50);
    expect(await scansAmong(h.store, capture.statements)).toEqual([]);
  });
});
