import { InMemoryEngineStateRepository, type EngineEvent } from '@psi/core';
import { defineProcess } from './define-process';
import { EngineFaultCode } from '../shared/engine-fault-code';
import { EngineErrorCode, StartOptionsInvalidError } from '../errors';
import { ManualTimers } from '../shared/manual-timers';
import type { ProcessDefinition } from './process-definition';
import { ReferenceEngine } from './reference-engine';

const pause = defineProcess({
  id: 'pause',
  start: 'begin',
  steps: {
    begin: { kind: 'script', run: () => ({ began: true }), next: 'pause' },
    pause: { kind: 'timer', durationMs: 5, next: 'done' },
    done: { kind: 'end' },
  },
});

/** SLA caught by the process: an overdue order escalates. */
const guarded = defineProcess({
  id: 'guarded',
  start: 'call',
  slaMs: 1000,
  faults: { [EngineFaultCode.SlaExceeded]: 'escalate' },
  steps: {
    call: { kind: 'service', next: 'cool-down' },
    'cool-down': {
      kind: 'timer',
      durationMs: 5000,
      next: 'done',
      faults: { PSI_SLA_EXCEEDED: 'late' },
    },
    escalate: { kind: 'wait', next: 'done' },
    late: { kind: 'end' },
    done: { kind: 'end' },
  },
});

/** SLA nobody catches: the instance is aborted. */
const strict = defineProcess({
  id: 'strict',
  start: 'call',
  slaMs: 100,
  steps: { call: { kind: 'service', next: 'done' }, done: { kind: 'end' } },
});

/** The "fast short-running loop": a few ms per round, done after 5 rounds. */
const loop = defineProcess({
  id: 'loop',
  start: 'tick',
  slaMs: 10000,
  steps: {
    tick: { kind: 'timer', durationMs: 1, next: 'count' },
    count: {
      kind: 'script',
      run: (vars) => ({ rounds: Number(vars.rounds ?? 0) + 1 }),
      next: 'check',
    },
    check: { kind: 'script', run: () => undefined, next: 'more' },
    more: { kind: 'service', transitions: { again: 'tick', stop: 'done' } },
    done: { kind: 'end' },
  },
});

function setup(definitions: ProcessDefinition[] = [pause, guarded, strict]): {
  engine: ReferenceEngine;
  timers: ManualTimers;
  events: EngineEvent[];
} {
  const timers = new ManualTimers(1_000_000);
  const engine = new ReferenceEngine({
    definitions,
    stateRepository: new InMemoryEngineStateRepository(),
    timers,
    clock: () => timers.now(),
  });
  const events: EngineEvent[] = [];
  engine.subscribe((event) => events.push(event));
  return { engine, timers, events };
}

function nextEvent(
  engine: ReferenceEngine,
  matches: (event: EngineEvent) => boolean,
): Promise<EngineEvent> {
  return new Promise((resolve) => {
    const off = engine.subscribe((event) => {
      if (matches(event)) {
        off();
        resolve(event);
      }
    });
  });
}

describe('ReferenceEngine timers', () => {
  describe('having a timer step', () => {
    it('rests there with no wait state and leaves via next when due', async () => {
      const { engine, timers } = setup();
      const id = await engine.start('pause');
      expect(await engine.getInstance(id)).toMatchObject({
        currentStep: 'pause',
        waitStates: [],
        status: 'running',
      });

      timers.advance(4);
      expect(timers.size).toBe(1);
      expect((await engine.getInstance(id)).status).toBe('running');

      const ended = engine.whenEnded(id);
      timers.advance(1);
      await expect(ended).resolves.toMatchObject({
        status: 'completed',
        history: ['begin', 'pause', 'done'],
      });
      expect(timers.size).toBe(0);
      await engine.stop();
    });

    it('works with the global timers, a few real milliseconds', async () => {
      const engine = new ReferenceEngine({ definitions: [pause] });
      const id = await engine.start('pause');
      await expect(engine.whenEnded(id)).resolves.toMatchObject({ status: 'completed' });
      await engine.stop();
    });

    it('runs the fast loop on real millisecond timers', async () => {
      const engine = new ReferenceEngine({ definitions: [loop] });
      engine.subscribe((event) => {
        if (event.type !== 'service-step-entered') return;
        void engine.getVariables(event.instanceId).then((vars) =>
          engine.signal(event.instanceId, event.step, {
            transition: Number(vars.rounds) < 5 ? 'again' : 'stop',
          }),
        );
      });
      const id = await engine.start('loop');
      const snapshot = await engine.whenEnded(id);
      expect(snapshot).toMatchObject({ status: 'completed', variables: { rounds: 5 } });
      expect(snapshot.history.filter((step) => step === 'tick')).toHaveLength(5);
      await engine.stop();
    });
  });

  describe('having an SLA', () => {
    it('raises PSI_SLA_EXCEEDED at the current state, caught by the process faults', async () => {
      const { engine, timers, events } = setup();
      const id = await engine.start('guarded');
      timers.advance(999);
      expect(await engine.getWaitStates(id)).toEqual(['call']);

      const escalated = nextEvent(engine, (e) => e.type === 'wait-state-entered');
      timers.advance(1);
      expect(await escalated).toEqual({
        type: 'wait-state-entered',
        instanceId: id,
        waitState: 'escalate',
        activationId: expect.any(String),
      });
      expect((await engine.getInstance(id)).history).toEqual(['call', 'escalate']);
      expect(events.map((e) => e.type)).toEqual(['service-step-entered', 'wait-state-entered']);
      expect(timers.size).toBe(0);
      await engine.stop();
    });

    it('prefers the fault handler of the step the instance rests at', async () => {
      const { engine, timers } = setup();
      const id = await engine.start('guarded');
      await engine.signal(id, 'call');
      const ended = engine.whenEnded(id);
      timers.advance(1000);
      await expect(ended).resolves.toMatchObject({
        status: 'completed',
        history: ['call', 'cool-down', 'late'],
      });
      await engine.stop();
    });

    it('aborts the instance when the fault is not caught', async () => {
      const { engine, timers, events } = setup();
      const id = await engine.start('strict');
      const ended = engine.whenEnded(id);
      timers.advance(100);
      await expect(ended).resolves.toMatchObject({
        status: 'aborted',
        fault: { code: 'PSI_SLA_EXCEEDED', message: expect.stringContaining('SLA of 100 ms') },
      });
      expect(events.at(-1)).toEqual({ type: 'instance-ended', instanceId: id, outcome: 'aborted' });
      await engine.stop();
    });

    it('is cleared when the instance ends first', async () => {
      const { engine, timers } = setup();
      const id = await engine.start('strict');
      expect(timers.size).toBe(1);
      await engine.signal(id, 'call');
      expect(timers.size).toBe(0);
      timers.advance(1000);
      expect(await engine.getInstance(id)).toMatchObject({ status: 'completed' });
      expect((await engine.getInstance(id)).fault).toBeUndefined();
      await engine.stop();
    });

    it('fires only once', async () => {
      const { engine, timers } = setup();
      const id = await engine.start('guarded');
      const escalated = nextEvent(engine, (e) => e.type === 'wait-state-entered');
      timers.advance(1000);
      await escalated;
      timers.advance(100_000);
      expect(await engine.getWaitStates(id)).toEqual(['escalate']);
      await engine.stop();
    });

    it('works with the global timers, a few real milliseconds, caught by the process', async () => {
      const engine = new ReferenceEngine({ definitions: [guarded] });
      const id = await engine.start('guarded', {}, { slaMs: 5 });
      const escalated = nextEvent(engine, (e) => e.type === 'wait-state-entered');
      expect(await escalated).toMatchObject({ instanceId: id, waitState: 'escalate' });
      expect(await engine.getInstance(id)).toMatchObject({
        status: 'running',
        history: ['call', 'escalate'],
      });
      await engine.stop();
    });

    describe('given per instance with start(…, { slaMs })', () => {
      it("overrides the definition's SLA for that instance only", async () => {
        const { engine, timers } = setup();
        const short = await engine.start('guarded', {}, { slaMs: 10 });
        const usual = await engine.start('guarded');
        const escalated = nextEvent(engine, (e) => e.type === 'wait-state-entered');
        timers.advance(10);
        expect(await escalated).toMatchObject({ instanceId: short, waitState: 'escalate' });
        expect(await engine.getWaitStates(usual)).toEqual(['call']);

        const usualEscalated = nextEvent(engine, (e) => e.type === 'wait-state-entered');
        timers.advance(990);
        expect(await usualEscalated).toMatchObject({ instanceId: usual, waitState: 'escalate' });
        await engine.stop();
      });

      it('gives an SLA to an instance whose definition has none, aborting it when uncaught', async () => {
        const { engine, timers } = setup();
        const id = await engine.start('pause', {}, { slaMs: 2 });
        const ended = engine.whenEnded(id);
        timers.advance(2);
        await expect(ended).resolves.toMatchObject({
          status: 'aborted',
          history: ['begin', 'pause'],
          fault: {
            code: EngineFaultCode.SlaExceeded,
            message: expect.stringContaining('SLA of 2 ms'),
          },
        });
        expect(timers.size).toBe(0);
        await engine.stop();
      });

      it('is persisted and re-armed with the time left by restore', async () => {
        const timers = new ManualTimers(1_000_000);
        const repository = new InMemoryEngineStateRepository();
        const options = { definitions: [guarded], stateRepository: repository, timers };
        const first = new ReferenceEngine({ ...options, clock: () => timers.now() });
        const id = await first.start('guarded', {}, { slaMs: 50 });
        await first.stop();
        timers.advance(30);

        const second = new ReferenceEngine({ ...options, clock: () => timers.now() });
        await second.restore();
        const escalated = nextEvent(second, (e) => e.type === 'wait-state-entered');
        timers.advance(19);
        expect(await second.getWaitStates(id)).toEqual(['call']);
        timers.advance(1);
        expect(await escalated).toMatchObject({ instanceId: id, waitState: 'escalate' });
        await second.stop();
      });

      it('refuses an SLA that is not a positive number, creating no instance', async () => {
        const { engine } = setup();
        for (const slaMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
          const error = await engine
            .start('pause', {}, { instanceId: 'bad', slaMs })
            .catch((e: unknown) => e);
          expect(error).toBeInstanceOf(StartOptionsInvalidError);
          expect((error as StartOptionsInvalidError).code).toBe(
            EngineErrorCode.StartOptionsInvalid,
          );
        }
        await expect(engine.getInstance('bad')).rejects.toMatchObject({
          code: 'PSI_INSTANCE_NOT_FOUND',
        });
        await engine.stop();
      });
    });

    describe('with jest fake timers and the default timers and clock', () => {
      beforeEach(() => {
        jest.useFakeTimers({ now: 0 });
      });
      afterEach(() => {
        jest.useRealTimers();
      });

      it('aborts the instance once the SLA passed', async () => {
        const engine = new ReferenceEngine({ definitions: [strict] });
        const id = await engine.start('strict');
        const ended = engine.whenEnded(id);
        await jest.advanceTimersByTimeAsync(100);
        await expect(ended).resolves.toMatchObject({
          status: 'aborted',
          fault: { code: 'PSI_SLA_EXCEEDED' },
        });
        await engine.stop();
      });
    });
  });
});
