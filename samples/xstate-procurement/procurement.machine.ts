import { randomUUID } from 'node:crypto';
import { PSI_SERVICE_TAG } from '@psi/engines/xstate';
import { assign, setup } from 'xstate';

/** How long the print room may take before it is reminded (an XState `after` delay). */
export const PRINT_REMINDER_MS = 4 * 60 * 60 * 1000;

/**
 * The seed's procurement process as an XState machine, with the state names the procurement
 * adapters are written against ("send-to-supplier", "await-confirmation", "insert-into-erp"):
 *
 * - states tagged `psi.service` are service steps: PSI runs the adapter bound to the state name
 *   and leaves the state with the default event `done`;
 * - the other leaf states are wait states; an adapter's transition (`confirmed`) or a person's
 *   (`printed`) is the event that leaves them, its variables merged into `context` first;
 * - `after` on the manual step reminds the print room; the plugin persists that timer's due time,
 *   so it survives a restart of the process.
 */
export const procurementMachine = setup({
  types: {} as {
    context: { orderNumber?: string; printReminders?: number } & Record<string, unknown>;
  },
  delays: { printReminder: PRINT_REMINDER_MS },
}).createMachine({
  id: 'procurement',
  initial: 'create-order',
  states: {
    'create-order': {
      entry: assign({ orderNumber: () => `PO-${randomUUID().slice(0, 8).toUpperCase()}` }),
      always: 'send-to-supplier',
    },
    'send-to-supplier': { tags: [PSI_SERVICE_TAG], on: { done: 'print-and-archive' } },
    'print-and-archive': {
      on: { printed: 'await-confirmation' },
      after: {
        printReminder: {
          actions: assign({ printReminders: ({ context }) => (context.printReminders ?? 0) + 1 }),
        },
      },
    },
    'await-confirmation': { on: { confirmed: 'insert-into-erp' } },
    'insert-into-erp': { tags: [PSI_SERVICE_TAG], on: { done: 'done' } },
    done: { type: 'final' },
  },
});
