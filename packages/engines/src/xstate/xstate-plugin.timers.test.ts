import { InMemoryEngineStateRepository, type EngineEvent } from '@psi/core';
import { createMachine, raise } from 'xstate';
import { ManualTimers } from '../shared/manual-timers';
import { PSI_SERVICE_TAG } from './xstate-definition';
import type { XStateInstanceRecord } from './xstate-instance-record';
import { XStatePlugin } from './xstate-plugin';

/** Waits for an ack; after 1 s it reminds (and keeps waiting), after 5 s it escalates. */
const page = createMachine({
  id: 'page',
  initial: 'page',
  states: {
    page: { tags: [PSI_SERVICE_TAG], on: { done: 'await-ack' } },
    'await-ack': {
      initial: 'quiet',
      states: {
        quiet: { after: { 1000: 'reminded' } },
        reminded: { entry: raise({ type: 'nudge' }, { delay: 500, id: 'nudge' }) },
      },
      on: { acked: 'acked', nudge: { actions: raise({ type: 'noop' }) } },
      after: { 5000: 'escalated' },
    },
    escalated: { on: { done: 'closed' } },
    acked: { type: 'final' },
    closed: { type: 'final' },
  },
});

describe('XStatePlugin delayed events', () => {
  let repository: InMemoryEngineStateRepository;
  let timers: ManualTimers;
  const plugins: XStatePlugin[] = [];

  function open(): { plugin: XStatePlugin; events: EngineEvent[] } {
    const plugin = new XStatePlugin({
      definitions: [page],
      stateRepository: repository,
      timers,
      clock: () => timers.now(),
    });
    plugins.push(plugin);
    const events: EngineEvent[] = [];
    plugin.subscribe((e) => events.push(e));
    return { plugin, events };
  }

  async function record(id: string): Promise<XStateInstanceRecord> {
    return JSON.parse((await repository.load('xstate', id))!) as XStateInstanceRecord;
  }

  /** Resolves with the next event of `plugin` that `matches` (subscribe before moving time). */
  function nextEvent(
    plugin: XStatePlugin,
    matches: (e: EngineEvent) => boolean,
  ): Promise<EngineEvent> {
    return new Promise((resolve) => {
      const off = plugin.subscribe((event) => {
        if (!matches(event)) return;
        off();
        resolve(event);
      });
    });
  }

  const entered = (plugin: XStatePlugin, id: string, state: string) =>
    nextEvent(
      plugin,
      (e) => e.type === 'wait-state-entered' && e.instanceId === id && e.waitState === state,
    );

  /** Polls the stored record until `check` holds (5 s deadline). */
  async function recordUntil(
    id: string,
    check: (r: XStateInstanceRecord) => boolean,
  ): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!check(await record(id))) {
      if (Date.now() > deadline) throw new Error(`record of ${id} never matched`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  beforeEach(() => {
    repository = new InMemoryEngineStateRepository();
    timers = new ManualTimers(1_000_000);
  });
  afterEach(async () => {
    for (const plugin of plugins.splice(0)) await plugin.stop();
  });

  it('persists the due time of every pending after, and fires them on PSI timers', async () => {
    const { plugin } = open();
    const id = await plugin.start('page');
    await plugin.signal(id, 'page');
    expect((await record(id)).timers).toEqual([
      {
        id: 'xstate.after.5000.page.await-ack',
        event: { type: 'xstate.after.5000.page.await-ack' },
        dueAt: 1_005_000,
      },
      {
        id: 'xstate.after.1000.page.await-ack.quiet',
        event: { type: 'xstate.after.1000.page.await-ack.quiet' },
        dueAt: 1_001_000,
      },
    ]);
    expect(plugin.armedTimers).toBe(2);

    const reminded = entered(plugin, id, 'await-ack.reminded');
    timers.advance(1000);
    await reminded;
    expect(await plugin.getWaitStates(id)).toEqual(['await-ack.reminded']);
    expect((await record(id)).timers.map((t) => [t.id, t.dueAt])).toEqual([
      [expect.stringContaining('5000'), 1_005_000],
      ['nudge', 1_001_500],
    ]);

    timers.advance(500);
    await recordUntil(id, (r) => r.timers.length === 1);

    const escalated = entered(plugin, id, 'escalated');
    timers.advance(3500);
    await escalated;
    expect(await plugin.getWaitStates(id)).toEqual(['escalated']);
    expect(plugin.armedTimers).toBe(0);
  });

  it('cancels the delayed events of a state the instance leaves', async () => {
    const { plugin } = open();
    const id = await plugin.start('page');
    await plugin.signal(id, 'page');
    await plugin.signal(id, 'await-ack.quiet', { transition: 'acked' });
    expect((await plugin.getInstance(id)).status).toBe('completed');
    expect((await record(id)).timers).toEqual([]);
    expect(plugin.armedTimers).toBe(0);
    expect(timers.size).toBe(0);
  });

  it('re-arms pending delays on restore with the time left, and fires overdue ones at once', async () => {
    const first = open();
    const soon = await first.plugin.start('page', {}, { instanceId: 'soon' });
    await first.plugin.signal(soon, 'page');
    const reminded = entered(first.plugin, soon, 'await-ack.reminded');
    timers.advance(1000);
    await reminded;
    const later = await first.plugin.start('page', {}, { instanceId: 'later' });
    await first.plugin.signal(later, 'page');
    await first.plugin.stop();
    expect(timers.size).toBe(0);

    // Down for 4.2 s: "soon" escalated meanwhile (its 5 s passed), "later" is still within its 5 s.
    timers.advance(4200);
    const second = open();
    await second.plugin.restore();
    expect(await second.plugin.getWaitStates(soon)).toEqual(['escalated']);
    expect(second.events).toContainEqual({
      type: 'wait-state-entered',
      instanceId: soon,
      waitState: 'escalated',
      activationId: expect.any(String),
    });
    // "later": its 1 s reminder fired at once; its 5 s escalation waits for the 800 ms left.
    expect(await second.plugin.getWaitStates(later)).toEqual(['await-ack.reminded']);
    timers.advance(799); // fires the nudge only: its escalation timer is not due yet
    expect(await second.plugin.getWaitStates(later)).toEqual(['await-ack.reminded']);
    const escalated = entered(second.plugin, later, 'escalated');
    timers.advance(1);
    await escalated;
    expect(await second.plugin.getWaitStates(later)).toEqual(['escalated']);
  });

  it('arms nothing once stopped', async () => {
    const { plugin } = open();
    const id = await plugin.start('page');
    await plugin.signal(id, 'page');
    await plugin.stop();
    expect(plugin.armedTimers).toBe(0);
    expect(timers.size).toBe(0);
    expect((await record(id)).timers).toHaveLength(2);
  });
});
