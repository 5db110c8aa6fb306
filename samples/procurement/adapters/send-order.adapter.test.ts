import { AdapterInputError, ResponseValidationError } from '@psi/core';
import { AdapterTestKit } from '@psi/core/testing';
import { SendOrderAdapter } from './send-order.adapter';

describe(SendOrderAdapter, () => {
  const kit = new AdapterTestKit(SendOrderAdapter);
  const order = { orderNumber: 'PO-1', item: 'bolts', quantity: 500 };

  describe('.callService', () => {
    it('places the order with the supplier and expects a confirmation by order number', async () => {
      const run = await kit.callService(order, { placeOrder: () => undefined });

      expect(run.calls).toEqual([{ operation: 'placeOrder', payload: order }]);
      expect(run.expectations).toEqual([
        expect.objectContaining({
          event: 'order-confirmed',
          waitState: 'await-confirmation',
          businessKey: { orderNumber: 'PO-1' },
        }),
      ]);
    });

    it('rejects a non-positive quantity naming the field', async () => {
      const error = await kit.callService({ ...order, quantity: 0 }).catch((e: unknown) => e);

      expect(AdapterInputError.is(error)).toBe(true);
      expect((error as AdapterInputError).violations).toEqual([
        { path: 'quantity', messages: ['quantity must be a positive number'] },
      ]);
    });
  });

  describe('.confirmed', () => {
    it('writes the confirmation and takes the "confirmed" transition', async () => {
      const run = await kit.callService(order, { placeOrder: () => undefined });

      const result = await run.respond('order-confirmed', {
        orderNumber: 'PO-1',
        confirmationId: 'C-9',
        deliveryDate: '2026-12-01',
      });

      expect(result).toEqual({
        transition: 'confirmed',
        variables: { confirmationId: 'C-9', deliveryDate: '2026-12-01' },
      });
    });

    it('rejects a confirmation without a delivery date', async () => {
      const run = await kit.callService(order, { placeOrder: () => undefined });

      await expect(
        run.respond('order-confirmed', { orderNumber: 'PO-1', confirmationId: 'C-9' }),
      ).rejects.toThrow(ResponseValidationError);
    });
  });
});
