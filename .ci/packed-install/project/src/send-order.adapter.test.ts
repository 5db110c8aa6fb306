// The README's adapter unit test, through the testing kit of the installed @psi/core.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdapterInputError } from '@psi/core';
import { AdapterTestKit } from '@psi/core/testing';
import { SendOrderAdapter } from './send-order.adapter';

test('the adapter writes the confirmation and takes the "confirmed" transition', async () => {
  const kit = new AdapterTestKit(SendOrderAdapter);
  const run = await kit.callService({ orderNumber: 'PO-1', item: 'bolts', quantity: 500 }, { placeOrder: () => undefined });

  assert.deepEqual(run.calls, [{ operation: 'placeOrder', payload: { orderNumber: 'PO-1', item: 'bolts', quantity: 500 } }]);
  const result = await run.respond('order-confirmed', { orderNumber: 'PO-1', confirmationId: 'C-9', deliveryDate: '2026-12-01' });
  assert.deepEqual(result, { transition: 'confirmed', variables: { confirmationId: 'C-9' } });
});

test('the adapter refuses a non-positive quantity with a typed error naming the field', async () => {
  const kit = new AdapterTestKit(SendOrderAdapter);
  const error = await kit.callService({ orderNumber: 'PO-1', item: 'bolts', quantity: 0 }).catch((e: unknown) => e);

  assert.equal(AdapterInputError.is(error), true);
  assert.equal((error as AdapterInputError).code, 'PSI_ADAPTER_INPUT_INVALID');
});
