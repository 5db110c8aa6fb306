import { AdapterInputError, PsiErrorCode } from '@psi/core';
import { StoreInspector } from '@psi/core/testing';
import {
  confirmation,
  eventually,
  openProcurementWorld,
  tempSqlitePath,
  type ProcurementWorld,
} from './procurement-world';

describe('procurement on the reference engine and a real SQLite file', () => {
  let sqlite: ReturnType<typeof tempSqlitePath>;
  let world: ProcurementWorld;

  beforeEach(async () => {
    sqlite = tempSqlitePath();
    world = await openProcurementWorld(sqlite.file);
  });
  afterEach(async () => {
    await world.close();
    sqlite.cleanup();
  });

  async function startOrder(): Promise<{ instanceId: string; orderNumber: string }> {
    const instanceId = await world.engine.start('procurement', { item: 'bolts', quantity: 5 });
    await eventually(async () =>
      (await world.engine.getWaitStates(instanceId)).includes('print-and-archive')
        ? true
        : undefined,
    );
    const { orderNumber } = (await world.engine.getVariables(instanceId)) as {
      orderNumber: string;
    };
    await eventually(() => world.orders.get(orderNumber));
    return { instanceId, orderNumber };
  }

  describe('when the confirmation arrives before the instance waits for it', () => {
    it('parks it, then delivers it the moment the instance reaches "await-confirmation"', async () => {
      const { instanceId, orderNumber } = await startOrder();

      const outcome = await world.coordinator.receive({
        event: 'order-confirmed',
        correlationKey: world.orders.get(orderNumber),
        payload: confirmation(orderNumber),
      });
      expect(outcome).toEqual({ status: 'parked', parkedId: expect.any(String), instanceId });
      expect(await world.engine.getWaitStates(instanceId)).toEqual(['print-and-archive']);

      await world.engine.signal(instanceId, 'print-and-archive', { transition: 'printed' });
      const final = await world.engine.whenEnded(instanceId);

      expect(final.status).toBe('completed');
      expect(final.variables).toMatchObject({
        confirmationId: 'CONF-1',
        erpDocumentId: expect.stringMatching(/^ERP-/),
      });
      expect(await world.coordinator.operations.count('parked')).toBe(0);
      const kinds = (await world.coordinator.auditTrail(instanceId)).map((e) => e.kind);
      expect(kinds).toEqual(expect.arrayContaining(['parked', 'released', 'delivered']));
      expect(kinds.indexOf('parked')).toBeLessThan(kinds.indexOf('released'));
    });

    it('delivers two parked answers for one instance in arrival order', async () => {
      const { instanceId, orderNumber } = await startOrder();
      const key = world.orders.get(orderNumber);

      await world.coordinator.receive({
        event: 'order-confirmed',
        correlationKey: key,
        payload: confirmation(orderNumber),
        messageId: 'm1',
      });
      await world.coordinator.receive({
        event: 'order-confirmed',
        correlationKey: key,
        payload: { ...confirmation(orderNumber), confirmationId: 'CONF-2' },
        messageId: 'm2',
      });
      await world.engine.signal(instanceId, 'print-and-archive', { transition: 'printed' });
      const final = await world.engine.whenEnded(instanceId);
      await world.coordinator.idle();

      expect(final.variables.confirmationId).toBe('CONF-1');
      const [late] = await world.coordinator.deadLetters.list();
      expect(late).toMatchObject({ reason: 'late', messageId: 'm2', instanceId });
    });
  });

  it('correlates a legacy answer by order number alone (business key)', async () => {
    const { instanceId, orderNumber } = await startOrder();
    await world.engine.signal(instanceId, 'print-and-archive', { transition: 'printed' });
    await eventually(async () =>
      (await world.engine.getWaitStates(instanceId)).includes('await-confirmation')
        ? true
        : undefined,
    );

    const outcome = await world.coordinator.receive({
      event: 'order-confirmed',
      payload: confirmation(orderNumber),
    });

    expect(outcome).toMatchObject({ status: 'delivered', instanceId });
    expect((await world.engine.whenEnded(instanceId)).status).toBe('completed');
  });

  it('parks an answer for an unknown correlation key and dead-letters it as expired, never dropping it', async () => {
    const outcome = await world.coordinator.receive({
      event: 'order-confirmed',
      correlationKey: 'nobody-knows-me',
      payload: confirmation('PO-UNKNOWN'),
    });
    expect(outcome.status).toBe('parked');
    const rows = await new StoreInspector(world.store).parked();
    expect(
      rows.map(({ correlationKey, expectationId }) => ({ correlationKey, expectationId })),
    ).toEqual([{ correlationKey: 'nobody-knows-me', expectationId: null }]);
  });

  it('fails the invocation with a typed error naming the invalid input field', async () => {
    const error = await world.coordinator
      .invoke({
        instanceId: await world.engine.start('procurement', { item: 'bolts', quantity: -1 }),
        step: 'send-to-supplier',
        activationId: 'manual',
      })
      .catch((e: unknown) => e);

    expect(AdapterInputError.is(error)).toBe(true);
    expect((error as AdapterInputError).code).toBe(PsiErrorCode.AdapterInputInvalid);
    expect((error as AdapterInputError).violations.map((v) => v.path)).toEqual(['quantity']);
  });

  it('raises an input error to the process as a fault (the instance aborts when uncaught)', async () => {
    const instanceId = await world.engine.start('procurement', { item: '', quantity: 5 });
    const final = await world.engine.whenEnded(instanceId);

    expect(final.status).toBe('aborted');
    expect(final.fault).toMatchObject({
      code: PsiErrorCode.AdapterInputInvalid,
      message: expect.stringContaining('item'),
    });
    await world.coordinator.idle(); // the failure's record commits with the final state
    const [invocation] = await world.coordinator.invocations({ instanceId });
    expect(invocation).toMatchObject({
      status: 'failed',
      lastError: expect.objectContaining({ code: PsiErrorCode.AdapterInputInvalid }),
    });
  });

  it('dead-letters an invalid response with the validation messages and keeps waiting', async () => {
    const { instanceId, orderNumber } = await startOrder();

    const outcome = await world.coordinator.receive({
      event: 'order-confirmed',
      correlationKey: world.orders.get(orderNumber),
      payload: { orderNumber, confirmationId: '', deliveryDate: 'next tuesday' },
    });

    expect(outcome).toMatchObject({ status: 'dead-lettered', reason: 'invalid' });
    const [letter] = await world.coordinator.deadLetters.list({ reason: 'invalid' });
    expect(letter.detail).toEqual({
      violations: [
        { path: 'confirmationId', messages: ['confirmationId should not be empty'] },
        { path: 'deliveryDate', messages: ['deliveryDate must be a valid ISO 8601 date string'] },
      ],
    });
    expect(letter.payload).toEqual({
      orderNumber,
      confirmationId: '',
      deliveryDate: 'next tuesday',
    });
    expect(letter.instanceId).toBe(instanceId);
    const [expectation] = await new StoreInspector(world.store).expectations();
    expect(expectation.status).toBe('open');
  });
});

describe('state survives closing and reopening the SQLite file', () => {
  it('lets a second coordinator deliver an answer parked by the first', async () => {
    const sqlite = tempSqlitePath();
    const first = await openProcurementWorld(sqlite.file);
    const instanceId = await first.engine.start('procurement', { item: 'bolts', quantity: 5 });
    await eventually(async () =>
      (await first.engine.getWaitStates(instanceId)).includes('print-and-archive')
        ? true
        : undefined,
    );
    const { orderNumber } = (await first.engine.getVariables(instanceId)) as {
      orderNumber: string;
    };
    const correlationKey = await eventually(() => first.orders.get(orderNumber));
    expect(
      await first.coordinator.receive({
        event: 'order-confirmed',
        correlationKey,
        payload: confirmation(orderNumber),
      }),
    ).toMatchObject({
      status: 'parked',
    });
    await first.close();

    const second = await openProcurementWorld(sqlite.file);
    try {
      expect(await second.engine.getWaitStates(instanceId)).toEqual(['print-and-archive']);
      await second.engine.signal(instanceId, 'print-and-archive', { transition: 'printed' });
      const final = await second.engine.whenEnded(instanceId);

      expect(final.status).toBe('completed');
      expect(final.variables.confirmationId).toBe('CONF-1');
      expect(second.traces.map((t) => t.kind)).toEqual(
        expect.arrayContaining(['released', 'delivered']),
      );
    } finally {
      await second.close();
      sqlite.cleanup();
    }
  });
});
