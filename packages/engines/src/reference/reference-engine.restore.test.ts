import { InMemoryEngineStateRepository, type EngineEvent } from '@psi/core';
import { defineProcess } from './define-process';
import { EngineStateError, ProcessDefinitionUnknownError } from '../errors';
import { ManualTimers } from '../shared/manual-timers';
import type { ProcessDefinition } from './process-definition';
import { ReferenceEngine } from './reference-engine';

const order = defineProcess({
  id: 'order',
  start: 'create',
  slaMs: 10_000,
  faults: { PSI_SLA_EXCEEDED: 'escalate' },
  steps: {
    create: { kind: 'script', run: () => ({ orderId: 'PO-1' }), next: 'send' },
    send: { kind: 'service', next: 'print' },
    print: { kind: 'wait', transitions: { printed: 'pause' } },
    pause: { kind: 'timer', durationMs: 100, next: 'confirm' },
    confirm: { kind: 'service', next: 'done' },
    escalate: { kind: 'wait', next: 'done' },
    done: { kind: 'end' },
  },
});

const T0 = 1_000_000;

/** One "process lifetime": an engine with its own timers, on a shared repository. */
function boot(
  repository: InMemoryEngineStateRepository,
  now: number,
  definitions: ProcessDefinition[] = [order],
): { engine: ReferenceEngine; timers: ManualTimers; events: EngineEvent[]; errors: unknown[] } {
  const timers = new ManualTimers(now);
  const errors: unknown[] = [];
  const engine = new ReferenceEngine({
    definitions,
    stateRepository: repository,
    timers,
    clock: () => timers.now(),
    onError: (error) => errors.push(error),
  });
  const events: EngineEvent[] = [];
  engine.subscribe((event) => events.push(event));
  return { engine, timers, events, errors };
}

describe('ReferenceEngine.restore', () => {
  let repository: InMemoryEngineStateRepository;

  beforeEach(() => {
    repository = new InMemoryEngineStateRepository();
  });

  it('re-emits service-step-entered with the persisted activationId, and the instance goes on', async () => {
    const first = boot(repository, T0);
    const id = await first.engine.start('order');
    const [entered] = first.events;
    await first.engine.stop();

    const second = boot(repository, T0 + 10);
    await second.engine.restore();
    expect(second.events).toEqual([{ ...entered, resumed: true }]);
    expect(entered).toMatchObject({ type: 'service-step-entered', step: 'send' });

    await second.engine.signal(id, 'send');
    expect(await second.engine.getWaitStates(id)).toEqual(['print']);
    await second.engine.stop();
  });

  it('re-emits wait-state-entered for instances at a wait state', async () => {
    const first = boot(repository, T0);
    const id = await first.engine.start('order');
    await first.engine.signal(id, 'send');
    await first.engine.stop();

    const second = boot(repository, T0);
    await second.engine.restore();
    expect(second.events).toEqual([
      {
        type: 'wait-state-entered',
        instanceId: id,
        waitState: 'print',
        activationId: expect.any(String),
      },
    ]);
    await second.engine.stop();
  });

  it('re-arms a timer step with the time left', async () => {
    const first = boot(repository, T0);
    const id = await first.engine.start('order');
    await first.engine.signal(id, 'send');
    await first.engine.signal(id, 'print', { transition: 'printed' });
    await first.engine.stop();

    const second = boot(repository, T0 + 40);
    await second.engine.restore();
    expect(second.events).toEqual([]);
    expect(second.timers.size).toBe(2); // the timer step and the SLA
    second.timers.advance(59);
    expect(await second.engine.getInstance(id)).toMatchObject({ currentStep: 'pause' });

    const confirm = new Promise<EngineEvent>((resolve) => second.engine.subscribe(resolve));
    second.timers.advance(1);
    expect(await confirm).toMatchObject({
      type: 'service-step-entered',
      instanceId: id,
      step: 'confirm',
    });
    await second.engine.stop();
  });

  it('fires an overdue timer at once', async () => {
    const first = boot(repository, T0);
    const id = await first.engine.start('order');
    await first.engine.signal(id, 'send');
    await first.engine.signal(id, 'print', { transition: 'printed' });
    await first.engine.stop();

    const second = boot(repository, T0 + 500);
    await second.engine.restore();
    expect(second.events).toEqual([
      {
        type: 'service-step-entered',
        instanceId: id,
        step: 'confirm',
        activationId: expect.any(String),
      },
    ]);
    expect((await second.engine.getInstance(id)).history.slice(-2)).toEqual(['pause', 'confirm']);
    await second.engine.stop();
  });

  it('re-arms the SLA with the time left', async () => {
    const first = boot(repository, T0);
    const id = await first.engine.start('order');
    await first.engine.stop();

    const second = boot(repository, T0 + 9_000);
    await second.engine.restore();
    second.timers.advance(999);
    expect(await second.engine.getWaitStates(id)).toEqual(['send']);

    const escalated = new Promise<EngineEvent>((resolve) =>
      second.engine.subscribe((e) => e.type === 'wait-state-entered' && resolve(e)),
    );
    second.timers.advance(1);
    expect(await escalated).toEqual({
      type: 'wait-state-entered',
      instanceId: id,
      waitState: 'escalate',
      activationId: expect.any(String),
    });
    await second.engine.stop();
  });

  it('raises an overdue SLA at once instead of resuming the service step', async () => {
    const first = boot(repository, T0);
    const id = await first.engine.start('order');
    await first.engine.stop();

    const second = boot(repository, T0 + 60_000);
    await second.engine.restore();
    expect(second.events).toEqual([
      {
        type: 'wait-state-entered',
        instanceId: id,
        waitState: 'escalate',
        activationId: expect.any(String),
      },
    ]);
    expect(second.timers.size).toBe(0);
    await second.engine.stop();
  });

  it('fires overdue timer and SLA in due order', async () => {
    const first = boot(repository, T0);
    const id = await first.engine.start('order');
    await first.engine.signal(id, 'send');
    first.timers.advance(5_000);
    await first.engine.signal(id, 'print', { transition: 'printed' }); // timer due at T0+5100, SLA at T0+10000
    await first.engine.stop();

    const second = boot(repository, T0 + 20_000);
    await second.engine.restore();
    expect((await second.engine.getInstance(id)).history.slice(-3)).toEqual([
      'pause',
      'confirm',
      'escalate',
    ]);
    expect(second.events.map((e) => e.type)).toEqual([
      'service-step-entered',
      'wait-state-entered',
    ]);
    await second.engine.stop();
  });

  it('leaves ended instances alone', async () => {
    const first = boot(repository, T0);
    const id = await first.engine.start('order');
    await first.engine.signal(id, 'send', { fault: { code: 'FATAL', message: 'x' } });
    await first.engine.stop();

    const second = boot(repository, T0);
    await second.engine.restore();
    expect(second.events).toEqual([]);
    expect(await second.engine.getInstance(id)).toMatchObject({
      status: 'aborted',
      fault: { code: 'FATAL' },
    });
    await second.engine.stop();
  });

  it('reports instances it cannot restore and restores the others', async () => {
    const other = defineProcess({
      id: 'other',
      start: 'w',
      steps: { w: { kind: 'wait', next: 'e' }, e: { kind: 'end' } },
    });
    const first = boot(repository, T0, [order, other]);
    const good = await first.engine.start('order');
    await first.engine.start('other');
    await first.engine.stop();
    await repository.save('reference', 'broken', '{not json');

    const second = boot(repository, T0);
    await second.engine.restore();
    expect(second.events).toEqual([expect.objectContaining({ instanceId: good, step: 'send' })]);
    expect(second.errors).toHaveLength(2);
    expect(second.errors).toEqual(
      expect.arrayContaining([
        expect.any(ProcessDefinitionUnknownError),
        expect.any(EngineStateError),
      ]),
    );
    await second.engine.stop();
  });
});
