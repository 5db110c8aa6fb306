import { defineProcess } from '@psi/engines';

/** Send a fax, then wait for the machine's "sent" report or a timeout: exactly one branch runs. */
export const faxProcess = defineProcess({
  id: 'fax',
  start: 'send-fax',
  steps: {
    'send-fax': { kind: 'service', next: 'await-sent' },
    'await-sent': {
      kind: 'wait',
      transitions: { sent: 'fax-delivered', timeout: 'send-by-email' },
    },
    'fax-delivered': { kind: 'end' },
    'send-by-email': { kind: 'end' },
  },
});
