import { PSI_SERVICE_TAG } from '@psi/engines/xstate';
import type { ConformanceProcess } from '@psi/testing/conformance';
import { createMachine, type AnyStateMachine } from 'xstate';

/**
 * The conformance suite's standard processes as XState machines: service steps are states tagged
 * "psi.service" (left by the default event `done`), transitions are events.
 */
export const xstateConformanceMachines: Record<ConformanceProcess, AnyStateMachine> = {
  order: createMachine({
    id: 'conformance-order',
    initial: 'place-order',
    states: {
      'place-order': { tags: [PSI_SERVICE_TAG], on: { done: 'prepare' } },
      prepare: { on: { prepared: 'await-confirmation' } },
      'await-confirmation': { on: { confirmed: 'book', rejected: 'rejected' } },
      book: { tags: [PSI_SERVICE_TAG], on: { done: 'booked' } },
      booked: { type: 'final' },
      rejected: { type: 'final' },
    },
  }),
  page: createMachine({
    id: 'conformance-page',
    initial: 'page',
    states: {
      page: { tags: [PSI_SERVICE_TAG], on: { done: 'await-ack' } },
      'await-ack': { on: { acked: 'acked', timeout: 'escalated' } },
      escalated: { on: { done: 'closed' } },
      acked: { type: 'final' },
      closed: { type: 'final' },
    },
  }),
  dispatch: createMachine({
    id: 'conformance-dispatch',
    initial: 'dispatch',
    states: {
      dispatch: { tags: [PSI_SERVICE_TAG], on: { done: 'await-outcome' } },
      'await-outcome': { on: { delivered: 'done', returned: 'refund' } },
      refund: { on: { done: 'done' } },
      done: { type: 'final' },
    },
  }),
  notice: createMachine({
    id: 'conformance-notice',
    initial: 'await-notice',
    states: {
      'await-notice': { on: { noticed: 'done' } },
      done: { type: 'final' },
    },
  }),
};
