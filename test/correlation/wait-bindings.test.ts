import { Input, OnResponse, Output, WaitBinding, type Coordinator } from '@psi/core';
import { defineProcess, type ReferenceEngine } from '@psi/engines';
import { IsInt, Min } from 'class-validator';
import { describeEachStore, openHarness, useTempDir, waitUntil, type Harness } from './fixtures';

// Wait bindings (issue 22, item 1) on the reference engine: a wait state no service step comes
// before declares what it waits for through a @WaitBinding; answers take the correlator's path.
// The engine-independent half is the conformance case "a wait state answered with no PSI call
// before it"; here: the timeout, the payload DTO, an entry left another way, and a loop through
// the same wait state.

class Payment {
  @IsInt() @Min(1) amount!: number;
  orderNumber!: string;
}

@WaitBinding()
class PaymentWait {
  @Input() @Output() paid?: number;

  @OnResponse('payment-received', {
    waitState: 'await-payment',
    businessKey: { orderNumber: 'orderNumber' },
    payload: Payment,
    timeoutMs: 300,
    timeoutTransition: 'expired',
  })
  received(payment: Payment): string {
    this.paid = (this.paid ?? 0) + payment.amount;
    return (this.paid ?? 0) >= 100 ? 'paid' : 'partly';
  }
}

const process = defineProcess({
  id: 'payments',
  start: 'await-payment',
  steps: {
    // Partly paid: back to the same wait state (a new entry, its own expectation).
    'await-payment': {
      kind: 'wait',
      transitions: {
        paid: 'done',
        partly: 'await-payment',
        expired: 'expired',
        cancel: 'cancelled',
      },
    },
    done: { kind: 'end' },
    expired: { kind: 'end' },
    cancelled: { kind: 'end' },
  },
});

describeEachStore('wait bindings', () => {
  const dir = useTempDir('psi-wait-bindings-');
  let h: Harness;
  let engine: ReferenceEngine;
  let coordinator: Coordinator;
  beforeEach(async () => {
    h = await openHarness({
      file: dir.file(),
      definitions: [process],
      adapters: [],
      registry: {},
      coordinator: { waitBindings: [PaymentWait] },
    });
    ({ engine, coordinator } = h);
  });
  afterEach(() => h.close());

  const pay = (orderNumber: string, amount: number) =>
    coordinator.receive({ event: 'payment-received', payload: { orderNumber, amount } });
  const awaiting = (id: string, count: number) =>
    waitUntil(
      async () =>
        (await coordinator.auditTrail(id)).filter((e) => e.kind === 'awaiting' && !e.detail?.left)
          .length >= count,
      `${count} entries of ${id} recorded`,
    );

  it('gives every entry of a wait state visited again its own expectation, answered in turn', async () => {
    const id = await engine.start('payments', { orderNumber: 'O-1' });
    await awaiting(id, 1);
    expect(await pay('O-1', 40)).toMatchObject({ status: 'delivered', instanceId: id });
    await awaiting(id, 2);
    expect(await pay('O-1', 70)).toMatchObject({ status: 'delivered', instanceId: id });
    expect((await engine.whenEnded(id)).variables).toMatchObject({ paid: 110 });
    expect(await engine.getInstance(id)).toMatchObject({
      history: ['await-payment', 'await-payment', 'done'],
    });
  });

  it('times out per the binding: the timeout transition is taken and a later answer is late', async () => {
    const id = await engine.start('payments', { orderNumber: 'O-2' });
    await awaiting(id, 1);
    expect((await engine.whenEnded(id)).history).toEqual(['await-payment', 'expired']);
    expect(await pay('O-2', 100)).toMatchObject({ status: 'dead-lettered', reason: 'late' });
  });

  it('dead-letters a payload its DTO refuses, without touching the instance', async () => {
    const id = await engine.start('payments', { orderNumber: 'O-3' });
    await awaiting(id, 1);
    expect(await pay('O-3', 0)).toMatchObject({ status: 'dead-lettered', reason: 'invalid' });
    expect(await engine.getWaitStates(id)).toEqual(['await-payment']);
  });

  it('closes what an entry waited for when the instance leaves it another way', async () => {
    const id = await engine.start('payments', { orderNumber: 'O-4' });
    await awaiting(id, 1);
    await engine.signal(id, 'await-payment', { transition: 'cancel' });
    await waitUntil(
      async () => (await coordinator.auditTrail(id)).some((e) => e.detail?.left === true),
      'the entry is closed',
    );
    expect(await pay('O-4', 100)).toMatchObject({ status: 'dead-lettered', reason: 'late' });
  });
});
