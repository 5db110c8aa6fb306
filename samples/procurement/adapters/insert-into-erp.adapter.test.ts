import { AdapterTestKit } from '@psi/core/testing';
import { InsertIntoErpAdapter } from './insert-into-erp.adapter';

describe(InsertIntoErpAdapter, () => {
  it('books the order and writes the ERP document id from the synchronous reply', async () => {
    const kit = new AdapterTestKit(InsertIntoErpAdapter);

    const run = await kit.callService(
      { orderNumber: 'PO-1', item: 'bolts', quantity: 5, confirmationId: 'C-9' },
      { insertOrder: () => ({ documentId: 'ERP-1' }) },
    );

    expect(run.calls[0]).toEqual({
      operation: 'insertOrder',
      payload: { orderNumber: 'PO-1', item: 'bolts', quantity: 5, confirmationId: 'C-9' },
    });
    expect(run.variables).toEqual({ erpDocumentId: 'ERP-1' });
    expect(run.expectations).toEqual([]);
  });
});
