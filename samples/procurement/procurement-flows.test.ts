import {
  PsiTestEnvironment,
  referenceEngine,
  ScriptedService,
  type ServiceCall,
  type TestAnswer,
} from '@psi/testing';
import { InsertIntoErpAdapter } from './adapters/insert-into-erp.adapter';
import { CONFIRMATION_TIMEOUT_MS, SendOrderAdapter } from './adapters/send-order.adapter';
import { procurementProcess } from './procurement.process';

// The procurement process tested as a user would test theirs: written only against
// @psi/testing. The clock is the environment's: 3 days and minutes of backoff pass at once.

const ORDER = { customer: 'ACME Tools', item: 'M8 steel bolts', quantity: 500 };

describe('procurement (with @psi/testing)', () => {
  let env: PsiTestEnvironment;
  let supplier: ScriptedService;
  let erp: ScriptedService;

  beforeEach(async () => {
    supplier = new ScriptedService('supplier'); // accepts the order; the test confirms it
    erp = new ScriptedService('erp', { insertOrder: () => ({ documentId: 'ERP-4711' }) });
    env = await PsiTestEnvironment.create({
      adapters: [SendOrderAdapter, InsertIntoErpAdapter],
      engine: referenceEngine([procurementProcess]),
      services: { supplier, erp },
      coordinates: {
        erp: {
          retry: { maxAttempts: 3, initialDelayMs: 60_000, multiplier: 2, maxDelayMs: 600_000 },
        },
      },
    });
  });

  afterEach(async () => {
    const problems = env.problems;
    await env.dispose();
    expect(problems).toEqual([]);
  });

  /** The supplier's confirmation of the order it was sent. */
  function confirmation(call: ServiceCall): TestAnswer {
    const { orderNumber } = call.payload as { orderNumber: string };
    return {
      event: 'order-confirmed',
      call,
      payload: { orderNumber, confirmationId: 'CONF-1', deliveryDate: '2026-12-01T00:00:00.000Z' },
    };
  }

  /** Starts an order and lets it reach "await-confirmation" (the manual step done). */
  async function orderAwaitingConfirmation(): Promise<string> {
    const instanceId = await env.start('procurement', ORDER);
    await env.signal(instanceId, 'print-and-archive', { transition: 'printed' });
    await env.whenWaitingAt(instanceId, 'await-confirmation');
    return instanceId;
  }

  it('parks a confirmation that comes before the order waits for it, then delivers it there', async () => {
    const instanceId = await env.start('procurement', ORDER);
    await env.whenWaitingAt(instanceId, 'print-and-archive');

    const early = await env.answerBeforeWaiting(
      instanceId,
      'await-confirmation',
      confirmation(supplier.lastCall('placeOrder')),
    );
    expect(early.status).toBe('parked');
    expect(await env.parked(instanceId)).toHaveLength(1);

    await env.signal(instanceId, 'print-and-archive', { transition: 'printed' });
    const final = await env.whenEnded(instanceId);

    expect(final.status).toBe('completed');
    expect(final.variables).toMatchObject({ confirmationId: 'CONF-1', erpDocumentId: 'ERP-4711' });
    expect(await env.parked(instanceId)).toEqual([]);
    expect(await env.trail(instanceId)).toEqual(
      expect.arrayContaining(['parked', 'released', 'delivered']),
    );
  });

  it('ignores the same confirmation sent twice', async () => {
    const instanceId = await orderAwaitingConfirmation();

    const [first, second] = await env.answerTwice(confirmation(supplier.lastCall('placeOrder')));

    expect(first.status).toBe('delivered');
    expect(second.status).toBe('duplicate');
    expect((await env.whenEnded(instanceId)).status).toBe('completed');
    expect(erp.callsOf('insertOrder')).toHaveLength(1);
    expect(await env.deadLetters({ instanceId })).toEqual([]);
  });

  it('keeps a confirmation one millisecond after the 3-day timeout as a late dead letter', async () => {
    const instanceId = await orderAwaitingConfirmation();
    const startedAt = env.clock.now();

    const late = await env.answerAtDeadline(
      instanceId,
      confirmation(supplier.lastCall('placeOrder')),
      { offsetMs: 1 },
    );

    expect(late).toMatchObject({ status: 'dead-lettered', reason: 'late' });
    expect(env.clock.now() - startedAt).toBe(CONFIRMATION_TIMEOUT_MS + 1);
    const final = await env.whenEnded(instanceId);
    expect(final.history.at(-1)).toBe('unconfirmed');
    expect(erp.calls).toEqual([]);
    expect(await env.deadLetters({ instanceId, reason: 'late' })).toHaveLength(1);
  });

  it('delivers a confirmation one millisecond before the 3-day timeout', async () => {
    const instanceId = await orderAwaitingConfirmation();

    const onTime = await env.answerAtDeadline(
      instanceId,
      confirmation(supplier.lastCall('placeOrder')),
      { offsetMs: -1 },
    );
    await env.clock.advance(CONFIRMATION_TIMEOUT_MS); // the deadline passes: nothing left to fire

    expect(onTime.status).toBe('delivered');
    expect((await env.whenEnded(instanceId)).variables).toMatchObject({
      erpDocumentId: 'ERP-4711',
    });
    expect(await env.deadLetters({ instanceId })).toEqual([]);
  });

  it('retries the ERP with backoff, freezes the booking after the last attempt, and thaws it', async () => {
    erp.failNext('insertOrder', 3);
    const instanceId = await orderAwaitingConfirmation();
    await env.answer(confirmation(supplier.lastCall('placeOrder')));
    expect(erp.callsOf('insertOrder')).toHaveLength(1);

    await env.clock.advance(59_999);
    expect(erp.callsOf('insertOrder')).toHaveLength(1); // the first backoff is a minute
    await env.clock.advance(1);
    expect(erp.callsOf('insertOrder')).toHaveLength(2);
    await env.clock.advance(120_000); // then two minutes; the third attempt is the last
    expect(erp.callsOf('insertOrder')).toHaveLength(3);

    const booking = (await env.invocations(instanceId)).find((i) => i.step === 'insert-into-erp');
    expect(booking?.status).toBe('frozen');
    expect(await env.trail(instanceId)).toEqual(
      expect.arrayContaining(['retried', 'retried', 'frozen']),
    );

    await env.thaw(booking!.id);

    const final = await env.whenEnded(instanceId);
    expect(final.status).toBe('completed');
    expect(final.variables).toMatchObject({ erpDocumentId: 'ERP-4711' });
    expect(erp.callsOf('insertOrder')).toHaveLength(4);
  });
});
