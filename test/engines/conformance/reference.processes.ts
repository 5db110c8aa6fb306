import { defineProcess, type ProcessDefinition } from '@psi/engines';
import type { ConformanceProcess } from '@psi/testing/conformance';

/** The conformance suite's standard processes as reference-engine definitions. */
export const referenceConformanceProcesses: Record<ConformanceProcess, ProcessDefinition> = {
  order: defineProcess({
    id: 'conformance-order',
    start: 'place-order',
    steps: {
      'place-order': { kind: 'service', next: 'prepare' },
      prepare: { kind: 'wait', transitions: { prepared: 'await-confirmation' } },
      'await-confirmation': {
        kind: 'wait',
        transitions: { confirmed: 'book', rejected: 'rejected' },
      },
      book: { kind: 'service', next: 'booked' },
      booked: { kind: 'end' },
      rejected: { kind: 'end' },
    },
  }),
  page: defineProcess({
    id: 'conformance-page',
    start: 'page',
    steps: {
      page: { kind: 'service', next: 'await-ack' },
      'await-ack': { kind: 'wait', transitions: { acked: 'acked', timeout: 'escalated' } },
      escalated: { kind: 'wait', next: 'closed' },
      acked: { kind: 'end' },
      closed: { kind: 'end' },
    },
  }),
  dispatch: defineProcess({
    id: 'conformance-dispatch',
    start: 'dispatch',
    steps: {
      dispatch: { kind: 'service', next: 'await-outcome' },
      'await-outcome': { kind: 'wait', transitions: { delivered: 'done', returned: 'refund' } },
      refund: { kind: 'wait', next: 'done' },
      done: { kind: 'end' },
    },
  }),
  notice: defineProcess({
    id: 'conformance-notice',
    start: 'await-notice',
    steps: {
      'await-notice': { kind: 'wait', transitions: { noticed: 'done' } },
      done: { kind: 'end' },
    },
  }),
};
