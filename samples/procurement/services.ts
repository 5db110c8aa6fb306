import { randomUUID } from 'node:crypto';
import type { InProcessService } from '@psi/adapters';
import type { PurchaseOrder } from './contracts';

/**
 * An in-process supplier: accepts the order and confirms it a moment later, typically while the
 * process is still printing and archiving, before it waits for the confirmation.
 */
export function createSupplier(): InProcessService {
  return {
    placeOrder: (payload, context) => {
      const order = payload as PurchaseOrder;
      setImmediate(() => {
        void context
          .respond('order-confirmed', {
            orderNumber: order.orderNumber,
            confirmationId: `CONF-${randomUUID().slice(0, 6).toUpperCase()}`,
            deliveryDate: new Date(Date.UTC(2026, 11, 1)).toISOString(),
          })
          .catch((error: unknown) => console.error('supplier could not answer', error));
      });
      return undefined; // accepted; the answer comes later
    },
  };
}

/** An in-process ERP that books orders and answers synchronously. */
export function createErp(): InProcessService {
  let next = 4711;
  return {
    insertOrder: () => ({ documentId: `ERP-${next++}` }),
  };
}
