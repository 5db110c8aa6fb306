import { PsiError } from '@psi/core';
import { createMachine, initialTransition } from 'xstate';
import { EngineErrorCode } from '../errors';
import {
  PSI_SERVICE_TAG,
  compileXStateProcess,
  descriptorMatches,
  leafPathsOf,
} from './xstate-definition';

const order = createMachine({
  id: 'order',
  context: { channel: 'web', quantity: 1 },
  initial: 'call',
  states: {
    call: { tags: [PSI_SERVICE_TAG], on: { done: 'review' } },
    review: {
      initial: 'await-approval',
      states: { 'await-approval': { on: { approved: 'approved' } }, approved: { type: 'final' } },
      onDone: 'shipping',
    },
    shipping: {
      type: 'parallel',
      states: {
        pack: { initial: 'packing', states: { packing: {} } },
        bill: { initial: 'billing', states: { billing: {} } },
      },
    },
  },
});

function codeOf(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return PsiError.is(error) ? error.code : error;
  }
  return undefined;
}

describe(compileXStateProcess, () => {
  it('knows every leaf state by its dotted path, with its kind', () => {
    const { id, leaves } = compileXStateProcess(order);
    expect(id).toBe('order');
    expect(Object.fromEntries([...leaves].map(([path, leaf]) => [path, leaf.kind]))).toEqual({
      call: 'service',
      'review.await-approval': 'wait',
      'review.approved': 'final',
      'shipping.pack.packing': 'wait',
      'shipping.bill.billing': 'wait',
    });
  });

  it('deploys under the id given, else the machine id', () => {
    expect(compileXStateProcess({ id: 'order-v2', machine: order }).id).toBe('order-v2');
  });

  it('merges the start variables over the initial context, object or factory', () => {
    const { machine } = compileXStateProcess(order);
    const [snapshot] = initialTransition(machine, { quantity: 5, customer: 'ACME' });
    expect(snapshot.context).toEqual({ channel: 'web', quantity: 5, customer: 'ACME' });

    const fromInput = createMachine({
      id: 'from-input',
      context: ({ input }: { input: { quantity: number } }) => ({ double: input.quantity * 2 }),
      initial: 'idle',
      states: { idle: {} },
    });
    const [computed] = initialTransition(compileXStateProcess(fromInput).machine, { quantity: 2 });
    expect(computed.context).toEqual({ double: 4, quantity: 2 });
  });

  it('marks the entry of every leaf state, re-entries included', () => {
    const { machine } = compileXStateProcess(order);
    const [, actions] = initialTransition(machine, {});
    expect(actions.map((a) => [a.type, a.params])).toEqual([['psi.entered', { state: 'call' }]]);
  });

  it('refuses invoked actors, service tags on compound states and machines it does not know', () => {
    const invoking = createMachine({
      id: 'invoking',
      initial: 'a',
      states: { a: { invoke: { src: createMachine({}) } } },
    });
    expect(codeOf(() => compileXStateProcess(invoking))).toBe(EngineErrorCode.DefinitionInvalid);

    const tagged = createMachine({
      id: 'tagged',
      initial: 'a',
      states: { a: { tags: [PSI_SERVICE_TAG], initial: 'b', states: { b: {} } } },
    });
    expect(() => compileXStateProcess(tagged)).toThrow(/not a leaf state/);

    expect(codeOf(() => compileXStateProcess({ id: 'x', machine: {} as typeof order }))).toBe(
      EngineErrorCode.DefinitionInvalid,
    );
  });
});

describe(leafPathsOf, () => {
  it('turns a state value into leaf paths, one per parallel region', () => {
    expect(leafPathsOf('call')).toEqual(['call']);
    expect(leafPathsOf({ review: 'await-approval' })).toEqual(['review.await-approval']);
    expect(leafPathsOf({ shipping: { pack: 'packing', bill: 'billing' } })).toEqual([
      'shipping.pack.packing',
      'shipping.bill.billing',
    ]);
  });
});

describe(descriptorMatches, () => {
  it('matches exact types, partial wildcards and the full wildcard', () => {
    expect(descriptorMatches('done', 'done')).toBe(true);
    expect(descriptorMatches('fault.*', 'fault.PSI_TIMEOUT')).toBe(true);
    expect(descriptorMatches('fault.*', 'faulty')).toBe(false);
    expect(descriptorMatches('*', 'anything')).toBe(true);
    expect(descriptorMatches('done', 'done.twice')).toBe(false);
  });
});
