import {
  EngineSignalRejectedError,
  InMemoryEngineStateRepository,
  PsiError,
  PsiErrorCode,
  type EngineEvent,
} from '@psi/core';
import { assign, createMachine, setup, spawnChild } from 'xstate';
import { EngineFaultCode } from '../shared/engine-fault-code';
import { EngineErrorCode, TransitionUnknownError } from '../errors';
import { PSI_SERVICE_TAG } from './xstate-definition';
import { XStatePlugin } from './xstate-plugin';

/** An order: a service step, a guarded approval inside a compound state, a fault handler. */
const order = setup({
  types: {} as {
    context: { amount?: number; approvals?: number; approvedBy?: string; log?: string[] };
    events:
      | { type: 'done' | 'again' | 'same' | 'reject' }
      | { type: 'approve'; variables: { approvedBy?: string } }
      | { type: `fault.${string}`; code: string; message: string };
  },
  guards: { small: ({ context }) => (context.amount ?? 0) < 1000 },
  actions: {
    note: assign(({ context }) => ({ log: [...(context.log ?? []), 'noted'] })),
  },
}).createMachine({
  id: 'order',
  initial: 'call',
  on: { 'fault.*': '.failed' },
  states: {
    call: {
      tags: [PSI_SERVICE_TAG],
      on: { done: 'review', again: { target: 'call', reenter: true }, same: 'call' },
    },
    review: {
      initial: 'await-approval',
      on: { 'fault.PSI_TIMEOUT': '#order.escalated' },
      states: {
        'await-approval': {
          on: {
            approve: {
              guard: 'small',
              target: 'approved',
              actions: [
                'note',
                assign(({ context, event }) => ({
                  approvals: (context.approvals ?? 0) + 1,
                  approvedBy: event.variables.approvedBy,
                })),
              ],
            },
            reject: '#order.rejected',
          },
        },
        approved: { type: 'final' },
      },
      onDone: 'done',
    },
    escalated: { on: { done: 'done' } },
    failed: { type: 'final' },
    rejected: { type: 'final' },
    done: { type: 'final' },
  },
});

/** Two wait states at once (parallel regions). */
const shipping = createMachine({
  id: 'shipping',
  type: 'parallel',
  states: {
    pack: { initial: 'packing', states: { packing: { on: { packed: 'ready' } }, ready: {} } },
    bill: { initial: 'billing', states: { billing: { on: { billed: 'paid' } }, paid: {} } },
  },
});

async function codeOf(work: Promise<unknown>): Promise<unknown> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  return PsiError.is(error) ? error.code : error;
}

describe(XStatePlugin, () => {
  let repository: InMemoryEngineStateRepository;
  let plugin: XStatePlugin;
  let events: EngineEvent[];
  let errors: unknown[];

  beforeEach(() => {
    repository = new InMemoryEngineStateRepository();
    errors = [];
    plugin = new XStatePlugin({
      definitions: [order, shipping],
      stateRepository: repository,
      onError: (error) => errors.push(error),
    });
    events = [];
    plugin.subscribe((event) => events.push(event));
  });
  afterEach(async () => {
    await plugin.stop();
    expect(errors).toEqual([]);
  });

  describe('.start', () => {
    it('puts the variables in context and raises service-step-entered for a tagged state', async () => {
      const id = await plugin.start('order', { amount: 50 }, { instanceId: 'o-1' });
      expect(id).toBe('o-1');
      expect(await plugin.getVariables(id)).toEqual({ amount: 50 });
      expect(await plugin.getWaitStates(id)).toEqual(['call']);
      expect(events).toEqual([
        {
          type: 'service-step-entered',
          instanceId: id,
          step: 'call',
          activationId: expect.any(String),
        },
      ]);
    });

    it('refuses an unknown definition and an id that exists', async () => {
      expect(await codeOf(plugin.start('nope'))).toBe(EngineErrorCode.DefinitionUnknown);
      await plugin.start('order', {}, { instanceId: 'twice' });
      expect(await codeOf(plugin.start('order', {}, { instanceId: 'twice' }))).toBe(
        EngineErrorCode.InstanceExists,
      );
    });
  });

  describe('.signal', () => {
    it('leaves a service state with the default event and names nested wait states by path', async () => {
      const id = await plugin.start('order', { amount: 50 });
      await plugin.signal(id, 'call', { variables: { quote: 'Q-1' } });
      expect(await plugin.getWaitStates(id)).toEqual(['review.await-approval']);
      expect(events.at(-1)).toEqual({
        type: 'wait-state-entered',
        instanceId: id,
        waitState: 'review.await-approval',
        activationId: expect.any(String),
      });

      await plugin.signal(id, 'review.await-approval', {
        transition: 'approve',
        variables: { approvedBy: 'alice' },
      });
      const final = await plugin.whenEnded(id);
      expect(final).toMatchObject({
        status: 'completed',
        waitStates: [],
        variables: { amount: 50, quote: 'Q-1', approvedBy: 'alice', approvals: 1, log: ['noted'] },
        history: ['call', 'review.await-approval', 'review.approved', 'done'],
      });
      expect(events.at(-1)).toEqual({
        type: 'instance-ended',
        instanceId: id,
        outcome: 'completed',
      });
    });

    it('refuses a state the instance is not in, naming where it is, and moves nothing', async () => {
      const id = await plugin.start('order');
      const error = await plugin
        .signal(id, 'review.await-approval', { transition: 'approve', variables: { x: 1 } })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EngineSignalRejectedError);
      expect((error as EngineSignalRejectedError).currentStates).toEqual(['call']);
      expect(await plugin.getVariables(id)).toEqual({});
      expect(await codeOf(plugin.signal('missing', 'call'))).toBe(PsiErrorCode.InstanceNotFound);
    });

    it('refuses an event the state does not handle, and one its guard does not allow', async () => {
      const id = await plugin.start('order', { amount: 5000 });
      await plugin.signal(id, 'call');
      const unknown = await plugin
        .signal(id, 'review.await-approval', { transition: 'ship' })
        .catch((e: unknown) => e);
      expect(unknown).toBeInstanceOf(TransitionUnknownError);
      expect((unknown as TransitionUnknownError).known).toEqual(
        expect.arrayContaining(['approve', 'reject', 'fault.PSI_TIMEOUT', 'fault.*']),
      );
      expect(
        await codeOf(plugin.signal(id, 'review.await-approval', { transition: 'approve' })),
      ).toBe(EngineErrorCode.TransitionRefused);
      expect(await plugin.getWaitStates(id)).toEqual(['review.await-approval']);

      // The guard reads the context the signal's variables were merged into.
      await plugin.signal(id, 'review.await-approval', {
        transition: 'approve',
        variables: { amount: 10 },
      });
      expect((await plugin.whenEnded(id)).status).toBe('completed');
    });

    it('gives a re-entered service state a new activation, a self-transition keeps it', async () => {
      const id = await plugin.start('order');
      await plugin.signal(id, 'call', { transition: 'same' });
      await plugin.signal(id, 'call', { transition: 'again' });
      const activations = events
        .filter((e) => e.type === 'service-step-entered')
        .map((e) => (e.type === 'service-step-entered' ? e.activationId : ''));
      expect(activations).toHaveLength(2);
      expect(activations[0]).not.toBe(activations[1]);
    });

    it('signals one parallel region, leaving the other waiting', async () => {
      const id = await plugin.start('shipping');
      expect(await plugin.getWaitStates(id)).toEqual(['pack.packing', 'bill.billing']);
      await plugin.signal(id, 'pack.packing', { transition: 'packed' });
      expect(await plugin.getWaitStates(id)).toEqual(['pack.ready', 'bill.billing']);
      // The event belongs to the other region: refused for this state.
      expect(await codeOf(plugin.signal(id, 'pack.ready', { transition: 'billed' }))).toBe(
        EngineErrorCode.TransitionUnknown,
      );
    });
  });

  describe('faults', () => {
    it('sends a fault as fault.<code>, caught by the nearest handler, else aborts', async () => {
      const timedOut = await plugin.start('order');
      await plugin.signal(timedOut, 'call');
      await plugin.signal(timedOut, 'review.await-approval', {
        fault: { code: 'PSI_TIMEOUT', message: 'late' },
      });
      expect(await plugin.getWaitStates(timedOut)).toEqual(['escalated']);

      const other = await plugin.start('order');
      await plugin.signal(other, 'call', {
        fault: { code: 'PSI_ADAPTER_INPUT_INVALID', message: 'x' },
      });
      expect(await plugin.whenEnded(other)).toMatchObject({
        status: 'completed',
        history: ['call', 'failed'],
      });

      const parallel = await plugin.start('shipping');
      await plugin.signal(parallel, 'bill.billing', {
        fault: { code: 'PSI_TIMEOUT', message: 'no payment' },
        variables: { reason: 'unpaid' },
      });
      expect(await plugin.whenEnded(parallel)).toMatchObject({
        status: 'aborted',
        fault: { code: 'PSI_TIMEOUT', message: 'no payment' },
        variables: { reason: 'unpaid' },
      });
      expect(events.at(-1)).toEqual({
        type: 'instance-ended',
        instanceId: parallel,
        outcome: 'aborted',
      });
    });

    it('ends the instance failed when an action or guard throws, or the machine spawns an actor', async () => {
      const throwing = createMachine({
        id: 'throwing',
        initial: 'a',
        states: {
          a: {
            on: {
              go: {
                target: 'b',
                actions: () => {
                  throw new Error('printer on fire');
                },
              },
            },
          },
          b: {},
        },
      });
      const guarded = createMachine({
        id: 'guarded',
        initial: 'a',
        states: {
          a: {
            on: {
              go: {
                target: 'b',
                guard: () => {
                  throw new Error('guard broke');
                },
              },
            },
          },
          b: {},
        },
      });
      const spawning = createMachine({
        id: 'spawning',
        initial: 'a',
        states: { a: { on: { go: 'b' } }, b: { entry: spawnChild(createMachine({})) } },
      });
      const failing = new XStatePlugin({ definitions: [throwing, guarded, spawning] });
      const a = await failing.start('throwing');
      await failing.signal(a, 'a', { transition: 'go' });
      expect(await failing.getInstance(a)).toMatchObject({
        status: 'failed',
        fault: { code: EngineFaultCode.MachineFailed, message: expect.stringContaining('printer') },
      });
      const g = await failing.start('guarded');
      await failing.signal(g, 'a', { transition: 'go' });
      expect(await failing.getInstance(g)).toMatchObject({
        status: 'failed',
        fault: { code: EngineFaultCode.MachineFailed, message: expect.stringContaining('guard') },
      });
      const b = await failing.start('spawning');
      await failing.signal(b, 'a', { transition: 'go' });
      expect(await failing.getInstance(b)).toMatchObject({
        status: 'failed',
        fault: { code: EngineFaultCode.ActorUnsupported },
      });
      await failing.stop();
    });
  });

  describe('.setVariables', () => {
    it('merges without moving, also once the instance ended', async () => {
      const id = await plugin.start('order', { amount: 1 });
      await plugin.setVariables(id, { amount: 2, note: 'rush' });
      expect(await plugin.getVariables(id)).toEqual({ amount: 2, note: 'rush' });
      expect(await plugin.getWaitStates(id)).toEqual(['call']);
      expect(events).toHaveLength(1);

      await plugin.signal(id, 'call', { fault: { code: 'X', message: 'y' } });
      await plugin.setVariables(id, { late: true });
      expect(await plugin.getVariables(id)).toEqual({ amount: 2, note: 'rush', late: true });
      expect(await codeOf(plugin.setVariables(id, { bad: 1n }))).toBe(
        EngineErrorCode.VariablesInvalid,
      );
    });
  });

  describe('.restore', () => {
    it('raises the events of waiting instances again, service steps with the same activation', async () => {
      const service = await plugin.start('order');
      const waiting = await plugin.start('shipping');
      const before = [...events];
      await plugin.stop();

      const second = new XStatePlugin({
        definitions: [order, shipping],
        stateRepository: repository,
      });
      const replayed: EngineEvent[] = [];
      second.subscribe((e) => replayed.push(e));
      await second.restore();
      // The same events, a service step's marked as resumed (PSI looks its invocation up).
      expect(replayed).toEqual(
        expect.arrayContaining(
          before.map((e) => (e.type === 'service-step-entered' ? { ...e, resumed: true } : e)),
        ),
      );
      expect(replayed).toHaveLength(3);
      await second.signal(service, 'call');
      await second.signal(waiting, 'bill.billing', { transition: 'billed' });
      expect(await second.getWaitStates(waiting)).toEqual(['pack.packing', 'bill.paid']);
      await second.stop();
    });
  });

  it('refuses machines it cannot run, and two definitions with one id', () => {
    expect(() => new XStatePlugin({ definitions: [order, order] })).toThrow(/same id/);
  });
});
