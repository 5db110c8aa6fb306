import {
  EngineSignalRejectedError,
  InMemoryEngineStateRepository,
  InstanceNotFoundError,
  type EngineEvent,
  type Variables,
} from '@psi/core';
import { defineProcess } from './define-process';
import { EngineFaultCode } from '../shared/engine-fault-code';
import {
  EngineStoppedError,
  InstanceExistsError,
  ProcessDefinitionUnknownError,
  TransitionUnknownError,
  VariablesInvalidError,
} from '../errors';
import { ManualTimers } from '../shared/manual-timers';
import { ReferenceEngine } from './reference-engine';
import type { ReferenceEngineOptions } from './reference-engine-options';

/** Holds the next load (with the state it read then) until the test releases it. */
class HeldLoads extends InMemoryEngineStateRepository {
  private hold: { called: () => void; released: Promise<void> } | undefined;

  holdNextLoad(): { called: Promise<void>; release: () => void } {
    let called!: () => void;
    let release!: () => void;
    const calledPromise = new Promise<void>((resolve) => (called = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.hold = { called, released };
    return { called: calledPromise, release };
  }

  override async load(engine: string, instanceId: string): Promise<string | undefined> {
    const state = await super.load(engine, instanceId);
    const hold = this.hold;
    this.hold = undefined;
    if (hold) {
      hold.called();
      await hold.released;
    }
    return state;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const procurement = defineProcess({
  id: 'procurement',
  start: 'create-order',
  faults: { SUPPLIER_DOWN: 'escalate', SHARED: 'escalate' },
  steps: {
    'create-order': {
      kind: 'script',
      run: async (vars) => ({ orderId: `PO-${String(vars.customer)}` }),
      next: 'send-to-supplier',
    },
    'send-to-supplier': {
      kind: 'service',
      next: 'print-and-archive',
      transitions: { rejected: 'cancel' },
      faults: { SHARED: 'cancel' },
    },
    'print-and-archive': { kind: 'wait', transitions: { printed: 'await-confirmation' } },
    'await-confirmation': {
      kind: 'wait',
      transitions: { confirmed: 'insert-into-erp', timeout: 'escalate' },
    },
    'insert-into-erp': { kind: 'service', next: 'summarise' },
    summarise: {
      kind: 'script',
      run: (vars) => ({ summary: `${String(vars.orderId)}/${String(vars.erpId)}` }),
      next: 'done',
    },
    escalate: { kind: 'wait', next: 'done' },
    cancel: { kind: 'end' },
    done: { kind: 'end' },
  },
});

const failing = defineProcess({
  id: 'failing',
  start: 'wait',
  steps: {
    wait: { kind: 'wait', next: 'explode' },
    explode: {
      kind: 'script',
      run: () => {
        throw new Error('kaboom');
      },
      next: 'done',
    },
    done: { kind: 'end' },
  },
});

const timed = defineProcess({
  id: 'timed',
  start: 'pause',
  steps: { pause: { kind: 'timer', durationMs: 50, next: 'done' }, done: { kind: 'end' } },
});

function setup(options: Partial<ReferenceEngineOptions> = {}): {
  engine: ReferenceEngine;
  repository: InMemoryEngineStateRepository;
  events: EngineEvent[];
  errors: unknown[];
} {
  const repository = new InMemoryEngineStateRepository();
  const errors: unknown[] = [];
  const engine = new ReferenceEngine({
    definitions: [procurement, failing, timed],
    stateRepository: repository,
    timers: new ManualTimers(),
    onError: (error) => errors.push(error),
    ...options,
  });
  const events: EngineEvent[] = [];
  engine.subscribe((event) => events.push(event));
  return { engine, repository, events, errors };
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** Starts procurement and signals it to `print-and-archive`. */
async function atPrintAndArchive(engine: ReferenceEngine): Promise<string> {
  const id = await engine.start('procurement', { customer: 'ACME' });
  await engine.signal(id, 'send-to-supplier');
  return id;
}

describe(ReferenceEngine, () => {
  let engine: ReferenceEngine;
  let repository: InMemoryEngineStateRepository;
  let events: EngineEvent[];
  let errors: unknown[];

  beforeEach(() => {
    ({ engine, repository, events, errors } = setup());
  });

  afterEach(async () => {
    await engine.stop();
  });

  it('is the PEAL plugin named "reference"', () => {
    expect(engine.name).toBe('reference');
  });

  describe('.start', () => {
    it('runs scripts, merges their variables and rests at the first service step', async () => {
      const id = await engine.start('procurement', { customer: 'ACME' });

      expect(id).toMatch(UUID);
      expect(await engine.getInstance(id)).toEqual({
        instanceId: id,
        definitionId: 'procurement',
        status: 'running',
        waitStates: ['send-to-supplier'],
        currentStep: 'send-to-supplier',
        variables: { customer: 'ACME', orderId: 'PO-ACME' },
        history: ['create-order', 'send-to-supplier'],
      });
      expect(await engine.getWaitStates(id)).toEqual(['send-to-supplier']);
      expect(events).toEqual([
        {
          type: 'service-step-entered',
          instanceId: id,
          step: 'send-to-supplier',
          activationId: expect.stringMatching(UUID),
        },
      ]);
    });

    it('uses the given instanceId and refuses to start it twice', async () => {
      await expect(engine.start('procurement', {}, { instanceId: 'order-42' })).resolves.toBe(
        'order-42',
      );
      const error = await rejectionOf(engine.start('procurement', {}, { instanceId: 'order-42' }));
      expect(error).toBeInstanceOf(InstanceExistsError);
      expect(error).toMatchObject({ code: 'PSI_ENGINE_INSTANCE_EXISTS', instanceId: 'order-42' });
    });

    it('refuses an unknown definition, naming the known ones', async () => {
      const error = await rejectionOf(engine.start('nope'));
      expect(error).toBeInstanceOf(ProcessDefinitionUnknownError);
      expect((error as Error).message).toContain('known: procurement, failing, timed');
    });

    it('persists the state as JSON under engine name "reference"', async () => {
      const id = await engine.start('procurement', { customer: 'ACME' });
      const json = await repository.load('reference', id);
      expect(JSON.parse(json!)).toMatchObject({
        instanceId: id,
        status: 'running',
        at: { step: 'send-to-supplier', kind: 'service' },
      });
    });

    it('gives scripts a copy of the variables', async () => {
      const mutating = defineProcess({
        id: 'mutating',
        start: 's',
        steps: {
          s: {
            kind: 'script',
            run: (vars) => {
              (vars as Variables).sneaky = true;
            },
            next: 'w',
          },
          w: { kind: 'wait', next: 'e' },
          e: { kind: 'end' },
        },
      });
      const own = setup({ definitions: [mutating] });
      const id = await own.engine.start('mutating', { a: 1 });
      expect(await own.engine.getVariables(id)).toEqual({ a: 1 });
      await own.engine.stop();
    });

    it('stores variables as JSON would', async () => {
      const id = await engine.start('procurement', { at: new Date(0), dropped: undefined });
      expect(await engine.getVariables(id)).toEqual({
        at: '1970-01-01T00:00:00.000Z',
        orderId: 'PO-undefined',
      });
      const circular: Variables = {};
      circular.self = circular;
      await expect(engine.start('procurement', circular)).rejects.toBeInstanceOf(
        VariablesInvalidError,
      );
    });
  });

  describe('.signal', () => {
    it('follows the default next and emits wait-state-entered', async () => {
      const id = await engine.start('procurement', { customer: 'ACME' });
      await engine.signal(id, 'send-to-supplier');
      expect(await engine.getWaitStates(id)).toEqual(['print-and-archive']);
      expect(events.at(-1)).toEqual({
        type: 'wait-state-entered',
        instanceId: id,
        waitState: 'print-and-archive',
        activationId: expect.any(String),
      });
    });

    it('follows a named transition', async () => {
      const id = await engine.start('procurement', { customer: 'ACME' });
      await engine.signal(id, 'send-to-supplier', { transition: 'rejected' });
      const snapshot = await engine.whenEnded(id);
      expect(snapshot).toMatchObject({
        status: 'completed',
        waitStates: [],
        history: ['create-order', 'send-to-supplier', 'cancel'],
      });
      expect(snapshot.currentStep).toBeUndefined();
    });

    it('merges the variables before moving on, so the next steps see them', async () => {
      const id = await atPrintAndArchive(engine);
      await engine.signal(id, 'print-and-archive', {
        transition: 'printed',
        variables: { printedAt: 7 },
      });
      await engine.signal(id, 'await-confirmation', { transition: 'confirmed' });
      await engine.signal(id, 'insert-into-erp', { variables: { erpId: 'E-9' } });
      const snapshot = await engine.whenEnded(id);
      expect(snapshot.status).toBe('completed');
      expect(snapshot.variables).toEqual({
        customer: 'ACME',
        orderId: 'PO-ACME',
        printedAt: 7,
        erpId: 'E-9',
        summary: 'PO-ACME/E-9',
      });
    });

    it('refuses an unknown transition with a typed error and does not move or merge', async () => {
      const id = await atPrintAndArchive(engine);
      const error = await rejectionOf(
        engine.signal(id, 'print-and-archive', { transition: 'faxed', variables: { x: 1 } }),
      );
      expect(error).toBeInstanceOf(TransitionUnknownError);
      expect(error).toMatchObject({ code: 'PSI_ENGINE_TRANSITION_UNKNOWN', known: ['printed'] });
      expect(await engine.getWaitStates(id)).toEqual(['print-and-archive']);
      expect(await engine.getVariables(id)).not.toHaveProperty('x');
    });

    it('refuses a signal without transition at a step without next', async () => {
      const id = await atPrintAndArchive(engine);
      const error = await rejectionOf(engine.signal(id, 'print-and-archive'));
      expect(error).toBeInstanceOf(TransitionUnknownError);
      expect((error as Error).message).toContain('has no default transition; name one of: printed');
    });

    it('refuses a wait state the instance is not at, naming the current one', async () => {
      const id = await atPrintAndArchive(engine);
      const error = await rejectionOf(
        engine.signal(id, 'await-confirmation', { transition: 'confirmed' }),
      );
      expect(error).toBeInstanceOf(EngineSignalRejectedError);
      expect(error).toMatchObject({
        code: 'PSI_ENGINE_SIGNAL_REJECTED',
        instanceId: id,
        waitState: 'await-confirmation',
        currentStates: ['print-and-archive'],
      });
    });

    it('refuses signals once the instance ended, with no current states', async () => {
      const id = await engine.start('procurement', { customer: 'ACME' });
      await engine.signal(id, 'send-to-supplier', { transition: 'rejected' });
      const error = await rejectionOf(engine.signal(id, 'send-to-supplier'));
      expect(error).toMatchObject({ currentStates: [] });
      expect((error as Error).message).toContain('nothing, it ended');
    });

    it('refuses signals at a timer step', async () => {
      const id = await engine.start('timed');
      expect(await engine.getWaitStates(id)).toEqual([]);
      const error = await rejectionOf(engine.signal(id, 'pause'));
      expect(error).toMatchObject({ currentStates: ['pause'] });
    });

    it('refuses unknown instances', async () => {
      await expect(engine.signal('ghost', 'x')).rejects.toBeInstanceOf(InstanceNotFoundError);
    });

    describe('having a fault', () => {
      it('routes it to the step fault handler first', async () => {
        const id = await engine.start('procurement', { customer: 'ACME' });
        await engine.signal(id, 'send-to-supplier', {
          fault: { code: 'SHARED', message: 'm' },
          transition: 'rejected',
        });
        const snapshot = await engine.whenEnded(id);
        expect(snapshot.history.at(-1)).toBe('cancel');
        expect(snapshot.status).toBe('completed');
        expect(snapshot.fault).toBeUndefined();
      });

      it('routes it to the process fault handler when the step has none', async () => {
        const id = await engine.start('procurement', { customer: 'ACME' });
        await engine.signal(id, 'send-to-supplier', {
          fault: { code: 'SUPPLIER_DOWN', message: 'no answer' },
          variables: { reason: 'down' },
        });
        expect(await engine.getWaitStates(id)).toEqual(['escalate']);
        expect(await engine.getVariables(id)).toMatchObject({ reason: 'down' });
      });

      it('aborts the instance when nobody catches it, recording the fault', async () => {
        const id = await engine.start('procurement', { customer: 'ACME' });
        await engine.signal(id, 'send-to-supplier', {
          fault: { code: 'UNHANDLED', message: 'oops' },
        });
        const snapshot = await engine.whenEnded(id);
        expect(snapshot).toMatchObject({
          status: 'aborted',
          waitStates: [],
          fault: { code: 'UNHANDLED', message: 'oops' },
        });
        expect(events.at(-1)).toEqual({
          type: 'instance-ended',
          instanceId: id,
          outcome: 'aborted',
        });
      });
    });

    describe('having a script that throws', () => {
      it('ends the instance failed, with the script error recorded', async () => {
        const id = await engine.start('failing');
        await engine.signal(id, 'wait');
        const snapshot = await engine.whenEnded(id);
        expect(snapshot.status).toBe('failed');
        expect(snapshot.fault).toEqual({
          code: EngineFaultCode.ScriptFailed,
          message: 'Script step "explode" failed: kaboom',
        });
        expect(events.at(-1)).toEqual({
          type: 'instance-ended',
          instanceId: id,
          outcome: 'failed',
        });
      });

      it('treats a script returning something other than variables as failed', async () => {
        const odd = defineProcess({
          id: 'odd',
          start: 's',
          steps: {
            s: { kind: 'script', run: () => [1] as unknown as Variables, next: 'e' },
            e: { kind: 'end' },
          },
        });
        const own = setup({ definitions: [odd] });
        const id = await own.engine.start('odd');
        expect(await own.engine.getInstance(id)).toMatchObject({
          status: 'failed',
          fault: { code: 'PSI_ENGINE_SCRIPT_FAILED' },
        });
        await own.engine.stop();
      });
    });
  });

  describe('concurrent signals on one instance', () => {
    it('lets exactly one win; the others see the moved state and are refused', async () => {
      const id = await atPrintAndArchive(engine);
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          engine.signal(id, 'print-and-archive', {
            transition: 'printed',
            variables: { winner: i },
          }),
        ),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(9);
      for (const { reason } of lost) {
        expect(reason).toBeInstanceOf(EngineSignalRejectedError);
        expect(reason).toMatchObject({ currentStates: ['await-confirmation'] });
      }
      expect(await engine.getVariables(id)).toMatchObject({ winner: 0 });
      expect(
        events.filter(
          (e) => e.type === 'wait-state-entered' && e.waitState === 'await-confirmation',
        ),
      ).toHaveLength(1);
    });

    it('runs them one after the other even when steps are async', async () => {
      const slow = defineProcess({
        id: 'slow',
        start: 'a',
        steps: {
          a: { kind: 'service', transitions: { go: 'work' } },
          work: {
            kind: 'script',
            run: async (vars) => {
              await new Promise((resolve) => setImmediate(resolve));
              return { count: Number(vars.count ?? 0) + 1 };
            },
            next: 'a',
          },
        },
      });
      const own = setup({ definitions: [slow] });
      const id = await own.engine.start('slow');
      await Promise.all(
        Array.from({ length: 5 }, () => own.engine.signal(id, 'a', { transition: 'go' })),
      );
      expect(await own.engine.getVariables(id)).toEqual({ count: 5 });
      await own.engine.stop();
    });
  });

  describe('events', () => {
    it('are emitted in order, each after its state was persisted', async () => {
      const persisted: Promise<string | undefined>[] = [];
      engine.subscribe((event) => persisted.push(repository.load('reference', event.instanceId)));
      const id = await atPrintAndArchive(engine);
      await engine.signal(id, 'print-and-archive', { transition: 'printed' });
      await engine.signal(id, 'await-confirmation', { transition: 'confirmed' });
      await engine.signal(id, 'insert-into-erp', { variables: { erpId: 'E-1' } });

      expect(
        events.map((e) =>
          e.type === 'service-step-entered'
            ? e.step
            : e.type === 'wait-state-entered'
              ? e.waitState
              : e.type === 'wait-state-left'
                ? `left ${e.waitState}`
                : e.outcome,
        ),
      ).toEqual([
        'send-to-supplier',
        'print-and-archive',
        'left print-and-archive',
        'await-confirmation',
        'left await-confirmation',
        'insert-into-erp',
        'completed',
      ]);
      const states = (await Promise.all(persisted)).map(
        (json) => JSON.parse(json!) as { at?: { step: string }; status: string },
      );
      // A left event goes out with the entry that follows it, after the same save.
      expect(states.map((s) => s.at?.step ?? s.status)).toEqual([
        'send-to-supplier',
        'print-and-archive',
        'await-confirmation',
        'await-confirmation',
        'insert-into-erp',
        'insert-into-erp',
        'completed',
      ]);
    });

    it('gives each entry into a service step its own activationId', async () => {
      const again = defineProcess({
        id: 'again',
        start: 's',
        steps: {
          s: { kind: 'service', next: 'e', transitions: { retry: 's' } },
          e: { kind: 'end' },
        },
      });
      const own = setup({ definitions: [again] });
      const id = await own.engine.start('again');
      await own.engine.signal(id, 's', { transition: 'retry' });
      const [first, second] = own.events as { activationId: string }[];
      expect(first!.activationId).not.toEqual(second!.activationId);
      await own.engine.stop();
    });

    it('survive listeners that throw or reject: errors are reported, other listeners still hear', async () => {
      engine.subscribe(() => {
        throw new Error('sync listener');
      });
      engine.subscribe(async () => {
        throw new Error('async listener');
      });
      const heard: EngineEvent[] = [];
      engine.subscribe((event) => heard.push(event));
      const id = await engine.start('procurement', { customer: 'ACME' });
      await engine.signal(id, 'send-to-supplier');

      expect(heard).toHaveLength(2);
      await new Promise((resolve) => setImmediate(resolve));
      expect(errors.map((e) => (e as Error).message).sort()).toEqual([
        'async listener',
        'async listener',
        'sync listener',
        'sync listener',
      ]);
    });

    it('stop after unsubscribe', async () => {
      const heard: EngineEvent[] = [];
      const off = engine.subscribe((event) => heard.push(event));
      off();
      await engine.start('procurement', {});
      expect(heard).toEqual([]);
    });

    it('let a listener signal the engine from inside the event', async () => {
      engine.subscribe((event) => {
        if (event.type === 'service-step-entered' && event.step === 'send-to-supplier') {
          void engine.signal(event.instanceId, event.step, { transition: 'rejected' });
        }
      });
      const id = await engine.start('procurement', {});
      await expect(engine.whenEnded(id)).resolves.toMatchObject({ status: 'completed' });
    });
  });

  describe('.getVariables / .setVariables', () => {
    it('merges variables without moving the instance, and persists them', async () => {
      const id = await engine.start('procurement', { customer: 'ACME' });
      await engine.setVariables(id, { note: 'rush', customer: 'ACME Corp' });
      expect(await engine.getVariables(id)).toEqual({
        customer: 'ACME Corp',
        orderId: 'PO-ACME',
        note: 'rush',
      });
      expect(await engine.getWaitStates(id)).toEqual(['send-to-supplier']);
      expect(JSON.parse((await repository.load('reference', id))!)).toMatchObject({
        variables: { note: 'rush' },
      });
    });

    it('returns a copy', async () => {
      const id = await engine.start('procurement', { customer: 'ACME' });
      (await engine.getVariables(id)).customer = 'changed';
      expect(await engine.getVariables(id)).toMatchObject({ customer: 'ACME' });
    });

    it('refuse unknown instances', async () => {
      await expect(engine.getVariables('ghost')).rejects.toBeInstanceOf(InstanceNotFoundError);
      await expect(engine.setVariables('ghost', {})).rejects.toBeInstanceOf(InstanceNotFoundError);
      await expect(engine.getWaitStates('ghost')).rejects.toBeInstanceOf(InstanceNotFoundError);
      await expect(engine.getInstance('ghost')).rejects.toBeInstanceOf(InstanceNotFoundError);
    });
  });

  describe('reading state', () => {
    it('reads from the repository when the instance is not in memory', async () => {
      const uncached = setup({ cacheSize: 0 });
      const id = await uncached.engine.start('procurement', { customer: 'ACME' });
      const other = new ReferenceEngine({
        definitions: [procurement],
        stateRepository: uncached.repository,
        cacheSize: 0,
      });
      expect(await other.getInstance(id)).toMatchObject({
        status: 'running',
        waitStates: ['send-to-supplier'],
      });
      await uncached.engine.signal(id, 'send-to-supplier');
      expect(await other.getWaitStates(id)).toEqual(['print-and-archive']);
      await Promise.all([uncached.engine.stop(), other.stop()]);
    });
    it('never keeps a read that a save overtook', async () => {
      // A read that loads from the repository while a signal saves newer state may return the
      // older state, but must not cache it: later reads would miss the wait state for good.
      const repository = new HeldLoads();
      const cached = new ReferenceEngine({
        definitions: [procurement],
        stateRepository: repository,
        cacheSize: 1,
      });
      const id = await cached.start('procurement', { customer: 'ACME' });
      await cached.start('procurement', {}); // evicts `id` from the one-entry cache
      const held = repository.holdNextLoad();
      const concurrentRead = cached.getWaitStates(id);
      await held.called;
      await cached.signal(id, 'send-to-supplier');
      held.release();
      expect(await concurrentRead).toEqual(['send-to-supplier']);
      expect(await cached.getWaitStates(id)).toEqual(['print-and-archive']);
      await cached.stop();
    });
  });

  describe('.whenEnded', () => {
    it('resolves at once for an ended instance', async () => {
      const id = await engine.start('procurement', {});
      await engine.signal(id, 'send-to-supplier', { transition: 'rejected' });
      await expect(engine.whenEnded(id)).resolves.toMatchObject({ status: 'completed' });
    });

    it('resolves when a running instance ends', async () => {
      const id = await engine.start('procurement', {});
      const ended = engine.whenEnded(id);
      await engine.signal(id, 'send-to-supplier', { fault: { code: 'X', message: 'x' } });
      await expect(ended).resolves.toMatchObject({ status: 'aborted' });
    });

    it('rejects for unknown instances and when the engine stops first', async () => {
      await expect(engine.whenEnded('ghost')).rejects.toBeInstanceOf(InstanceNotFoundError);
      const id = await engine.start('procurement', {});
      const ended = engine.whenEnded(id);
      await engine.stop();
      await expect(ended).rejects.toBeInstanceOf(EngineStoppedError);
      await expect(engine.whenEnded(id)).rejects.toBeInstanceOf(EngineStoppedError);
    });
  });

  describe('.stop', () => {
    it('clears timers, refuses new work and emits nothing more', async () => {
      const timers = new ManualTimers();
      const own = setup({ timers, clock: () => timers.now() });
      const id = await own.engine.start('timed');
      expect(timers.size).toBe(1);
      await own.engine.stop();
      expect(timers.size).toBe(0);
      await expect(own.engine.start('timed')).rejects.toBeInstanceOf(EngineStoppedError);
      await expect(own.engine.signal(id, 'pause')).rejects.toBeInstanceOf(EngineStoppedError);
      expect(own.events).toEqual([]);
    });

    it('lets work in progress persist, without its events', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const gated = defineProcess({
        id: 'gated',
        start: 'w',
        steps: {
          w: { kind: 'wait', next: 'slow' },
          slow: { kind: 'script', run: () => gate, next: 's' },
          s: { kind: 'service', next: 'e' },
          e: { kind: 'end' },
        },
      });
      const own = setup({ definitions: [gated] });
      const id = await own.engine.start('gated');
      const signalled = own.engine.signal(id, 'w');
      await new Promise((resolve) => setImmediate(resolve));
      const stopped = own.engine.stop();
      release();
      await Promise.all([signalled, stopped]);
      expect(JSON.parse((await own.repository.load('reference', id))!)).toMatchObject({
        at: { step: 's' },
      });
      expect(own.events.map((e) => e.type)).toEqual(['wait-state-entered']);
    });
  });
});
