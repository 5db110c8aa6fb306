/** An order line as the supplier and the ERP understand it. */
export interface PurchaseOrder {
  orderNumber: string;
  item: string;
  quantity: number;
}

/** The supplier: takes an order now, confirms it later (asynchronously, sometimes very fast). */
export abstract class SupplierService {
  abstract placeOrder(order: PurchaseOrder): Promise<void>;
}

/** The ERP: books a confirmed order and answers at once with its document number. */
export abstract class ErpService {
  abstract insertOrder(
    order: PurchaseOrder & { confirmationId: string },
  ): Promise<{ documentId: string }>;
}
