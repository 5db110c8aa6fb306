import { randomUUID } from 'node:crypto';
import type { InProcessService } from '@psi/adapters';
import type { PurchaseOrder } from './contracts';

/** The event the supplier confirms an order with (the adapter's response handler). */
export const ORDER_CONFIRMED = 'order-confirmed';

/** What the supplier answers for `order`, whichever transport carries it. */
export function confirmationFor(order: PurchaseOrder): Record<string, unknown> {
  return {
    orderNumber: order.orderNumber,
    confirmationId: `CONF-${randomUUID().slice(0, 6).toUpperCase()}`,
    deliveryDate: new Date(Date.UTC(2026, 11, 1)).toISOString(),
  };
}

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
          .respond(ORDER_CONFIRMED, confirmationFor(order))
          .catch((error: unknown) => console.error('supplier could not answer', error));
      });
      return undefined; // accepted; the answer comes later
    },
  };
}

/** The ERP's document numbers: ERP-4711, ERP-4712, ... */
export function createErpBook(): () => { documentId: string } {
  let next = 4711;
  return () => ({ documentId: `ERP-${next++}` });
}

/** An in-process ERP that books orders and answers synchronously. */
export function createErp(): InProcessService {
  const book = createErpBook();
  return {
    insertOrder: () => book(),
  };
}
