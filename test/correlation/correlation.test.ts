import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsNotEmpty, IsString } from 'class-validator';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  useTempDir,
  type Harness,
} from './fixtures';

// Semantic 1: correlation by generated key (carried by the transport) and by business key
// (several payload fields, no correlation key); a business key matching two live expectations is
// dead-lettered `ambiguous` with both candidates named.

abstract class Supplier {
  abstract placeOrder(order: { orderNumber: string; supplierId: string }): Promise<void>;
}

class Confirmation {
  @IsString() @IsNotEmpty() confirmationId!: string;
}

@ServiceAdapter({ step: 'order', service: 'supplier' })
class OrderAdapter {
  @Input() @IsString() orderNumber!: string;
  @Input() @IsString() supplierId!: string;
  @Output() confirmationId?: string;
  @UseService(Supplier) supplier!: Supplier;

  async callService(): Promise<void> {
    await this.supplier.placeOrder({ orderNumber: this.orderNumber, supplierId: this.supplierId });
  }

  @OnResponse('confirmed', { waitState: 'await-confirmation', payload: Confirmation })
  confirmed(answer: Confirmation): string {
    this.confirmationId = answer.confirmationId;
    return 'confirmed';
  }
}

/** A legacy supplier answers without correlation key: order number + supplier id identify it. */
@ServiceAdapter({ step: 'legacy-order', service: 'legacy-supplier' })
class LegacyOrderAdapter {
  @Input() @IsString() orderNumber!: string;
  @Input() @IsString() supplierId!: string;
  @Output() confirmationId?: string;
  @UseService(Supplier) supplier!: Supplier;

  async callService(): Promise<void> {
    await this.supplier.placeOrder({ orderNumber: this.orderNumber, supplierId: this.supplierId });
  }

  @OnResponse('legacy-confirmed', {
    waitState: 'await-confirmation',
    payload: Confirmation,
    correlationKey: false,
    businessKey: { orderNumber: 'orderNumber', supplier: 'supplierId' },
  })
  confirmed(answer: Confirmation): string {
    this.confirmationId = answer.confirmationId;
    return 'confirmed';
  }
}

const steps = (first: string) => ({
  [first]: { kind: 'service' as const, next: 'await-confirmation' },
  'await-confirmation': { kind: 'wait' as const, transitions: { confirmed: 'done' } },
  done: { kind: 'end' as const },
});
const orderProcess = defineProcess({ id: 'order', start: 'order', steps: steps('order') });
const legacyProcess = defineProcess({
  id: 'legacy',
  start: 'legacy-order',
  steps: steps('legacy-order'),
});

describeEachStore('correlation', () => {
  const temp = useTempDir();
  let h: Harness;
  let supplier: RecordingService;

  beforeEach(async () => {
    supplier = new RecordingService({ placeOrder: undefined });
    h = await openHarness({
      file: temp.file(),
      definitions: [orderProcess, legacyProcess],
      adapters: [OrderAdapter, LegacyOrderAdapter],
      services: { supplier: supplier.service },
      registry: {
        supplier: { transport: 'in-process', address: 'supplier' },
        'legacy-supplier': { transport: 'in-process', address: 'supplier' },
      },
    });
  });
  afterEach(() => h.close());

  it('delivers by the generated correlation key the transport carries', async () => {
    const id = await h.engine.start('order', { orderNumber: 'PO-1', supplierId: 'S1' });
    const other = await h.engine.start('order', { orderNumber: 'PO-2', supplierId: 'S1' });
    await h.atStep(id, 'await-confirmation');
    await h.atStep(other, 'await-confirmation');
    const call = supplier.calls.find(
      (c) => (c.payload as { orderNumber: string }).orderNumber === 'PO-1',
    )!;

    const outcome = await call.context.respond('confirmed', { confirmationId: 'C-1' });

    expect(outcome).toEqual({
      status: 'delivered',
      instanceId: id,
      expectationId: expect.any(String),
    });
    const final = await h.engine.whenEnded(id);
    expect(final.status).toBe('completed');
    expect(final.variables.confirmationId).toBe('C-1');
    expect(final.history).toEqual(['order', 'await-confirmation', 'done']);
    // The other instance is untouched.
    expect((await h.engine.getInstance(other)).currentStep).toBe('await-confirmation');

    const [invocation] = await h.coordinator.invocations({ instanceId: id });
    expect(invocation.status).toBe('completed');
    const rows = await h.query<{ status: string; correlationKey: string }>(
      'SELECT status, "correlationKey" FROM psi_expectation WHERE "instanceId" = ?',
      [id],
    );
    expect(rows).toEqual([{ status: 'delivered', correlationKey: invocation.correlationKey }]);
    expect(call.context.correlationKey).toBe(invocation.correlationKey);
    expect(await h.coordinator.deadLetters.list()).toEqual([]);
  });

  it('delivers by a business key made of several payload fields, without correlation key', async () => {
    const s1 = await h.engine.start('legacy', { orderNumber: 'PO-7', supplierId: 'S1' });
    const s2 = await h.engine.start('legacy', { orderNumber: 'PO-7', supplierId: 'S2' });
    await h.atStep(s1, 'await-confirmation');
    await h.atStep(s2, 'await-confirmation');

    // Same order number, other supplier: only the full key (both fields) identifies the instance.
    const outcome = await h.coordinator.receive({
      event: 'legacy-confirmed',
      payload: { orderNumber: 'PO-7', supplier: 'S2', confirmationId: 'C-S2' },
      source: 'legacy-ftp',
    });

    expect(outcome).toMatchObject({ status: 'delivered', instanceId: s2 });
    const final = await h.engine.whenEnded(s2);
    expect(final.status).toBe('completed');
    expect(final.variables.confirmationId).toBe('C-S2');
    const first = await h.engine.getInstance(s1);
    expect(first.currentStep).toBe('await-confirmation');
    expect(first.variables.confirmationId).toBeUndefined();

    const rows = await h.query<{
      instanceId: string;
      status: string;
      businessKey: string;
      correlationKey: null;
    }>(
      'SELECT "instanceId", status, "businessKey", "correlationKey" FROM psi_expectation ORDER BY "instanceId" = ? DESC',
      [s1],
    );
    expect(rows).toEqual([
      {
        instanceId: s1,
        status: 'open',
        businessKey: JSON.stringify([
          ['orderNumber', 'PO-7'],
          ['supplier', 'S1'],
        ]),
        correlationKey: null,
      },
      {
        instanceId: s2,
        status: 'delivered',
        businessKey: JSON.stringify([
          ['orderNumber', 'PO-7'],
          ['supplier', 'S2'],
        ]),
        correlationKey: null,
      },
    ]);
  });

  it('dead-letters a business key that matches two live expectations as ambiguous, naming both', async () => {
    const a = await h.engine.start('legacy', { orderNumber: 'PO-9', supplierId: 'S1' });
    const b = await h.engine.start('legacy', { orderNumber: 'PO-9', supplierId: 'S1' });
    await h.atStep(a, 'await-confirmation');
    await h.atStep(b, 'await-confirmation');

    const outcome = await h.coordinator.receive({
      event: 'legacy-confirmed',
      payload: { orderNumber: 'PO-9', supplier: 'S1', confirmationId: 'C-?' },
    });

    expect(outcome).toMatchObject({ status: 'dead-lettered', reason: 'ambiguous' });
    const [letter] = await h.coordinator.deadLetters.list({ reason: 'ambiguous' });
    expect(letter.id).toBe((outcome as { deadLetterId: string }).deadLetterId);
    expect(letter.payload).toEqual({ orderNumber: 'PO-9', supplier: 'S1', confirmationId: 'C-?' });
    const candidates = (
      letter.detail as { candidates: Array<{ instanceId: string; expectationId: string }> }
    ).candidates;
    expect(candidates.map((c) => c.instanceId).sort()).toEqual([a, b].sort());
    const expectationIds = await h.query<{ id: string }>('SELECT id FROM psi_expectation');
    expect(candidates.map((c) => c.expectationId).sort()).toEqual(
      expectationIds.map((r) => r.id).sort(),
    );

    // Never guessed: both instances still wait, both expectations stay open.
    for (const id of [a, b]) {
      const snapshot = await h.engine.getInstance(id);
      expect(snapshot.currentStep).toBe('await-confirmation');
      expect(snapshot.variables.confirmationId).toBeUndefined();
    }
    const statuses = await h.query<{ status: string }>('SELECT status FROM psi_expectation');
    expect(statuses.map((r) => r.status)).toEqual(['open', 'open']);
    expect(h.coordinator.stats()).toMatchObject({ delivered: 0, deadLettered: 1 });
  });
});
