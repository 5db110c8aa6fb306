import { randomUUID } from 'node:crypto';
import { PsiErrorCode } from '@psi/core';
import { defineProcess } from '@psi/engines';

/**
 * The seed's procurement process. "print-and-archive" is a slow manual step: the supplier's
 * confirmation typically arrives while the instance is still there, before it waits for it.
 * A supplier that does not confirm within 3 days (the adapter's timeout) ends it "unconfirmed".
 */
export const procurementProcess = defineProcess({
  id: 'procurement',
  start: 'create-order',
  steps: {
    'create-order': {
      kind: 'script',
      run: () => ({ orderNumber: `PO-${randomUUID().slice(0, 8).toUpperCase()}` }),
      next: 'send-to-supplier',
    },
    'send-to-supplier': { kind: 'service', next: 'print-and-archive' },
    'print-and-archive': { kind: 'wait', transitions: { printed: 'await-confirmation' } },
    'await-confirmation': {
      kind: 'wait',
      transitions: { confirmed: 'insert-into-erp' },
      faults: { [PsiErrorCode.Timeout]: 'unconfirmed' },
    },
    'insert-into-erp': { kind: 'service', next: 'done' },
    done: { kind: 'end' },
    unconfirmed: { kind: 'end' },
  },
});
