import {
  InMemoryEngineStateRepository,
  InstanceNotFoundError,
  KeyedMutex,
  type EngineEvent,
} from '@psi/core';
import { EngineStoppedError } from '../errors';
import type { InstanceSnapshot, InstanceStatus } from './instance-snapshot';
import { EngineEventHub } from './engine-event-hub';
import { PluginLifecycle } from './plugin-lifecycle';

interface TestRecord {
  instanceId: string;
  status: InstanceStatus;
}

function snapshotOf(record: TestRecord): InstanceSnapshot {
  return {
    instanceId: record.instanceId,
    definitionId: 'test',
    status: record.status,
    waitStates: [],
    variables: {},
    history: [],
  };
}

function setup() {
  const records = new Map<string, TestRecord>();
  const repository = new InMemoryEngineStateRepository();
  const errors: unknown[] = [];
  const events = new EngineEventHub((error) => errors.push(error));
  const mutex = new KeyedMutex();
  const lifecycle = new PluginLifecycle<TestRecord>({
    name: 'test-engine',
    repository,
    mutex,
    events,
    read: async (instanceId) => records.get(instanceId),
    toSnapshot: snapshotOf,
  });
  return { records, repository, errors, events, mutex, lifecycle };
}

describe(PluginLifecycle, () => {
  describe('.require', () => {
    it('returns the record, or throws InstanceNotFoundError', async () => {
      const { records, lifecycle } = setup();
      records.set('i1', { instanceId: 'i1', status: 'running' });

      await expect(lifecycle.require('i1')).resolves.toEqual({
        instanceId: 'i1',
        status: 'running',
      });
      await expect(lifecycle.require('nope')).rejects.toBeInstanceOf(InstanceNotFoundError);
    });
  });

  describe('.whenEnded', () => {
    it('resolves at once for an ended instance and on publish for a running one', async () => {
      const { records, lifecycle } = setup();
      records.set('done', { instanceId: 'done', status: 'completed' });
      const running: TestRecord = { instanceId: 'run', status: 'running' };
      records.set('run', running);

      await expect(lifecycle.whenEnded('done')).resolves.toMatchObject({ status: 'completed' });
      const ended = lifecycle.whenEnded('run');
      await new Promise((resolve) => setImmediate(resolve));
      lifecycle.publish({ ...running, status: 'aborted' }, []);

      await expect(ended).resolves.toMatchObject({ instanceId: 'run', status: 'aborted' });
    });
  });

  describe('.publish', () => {
    it('emits the events to subscribers', () => {
      const { events, lifecycle } = setup();
      const seen: EngineEvent[] = [];
      events.subscribe((event) => {
        seen.push(event);
      });
      const event: EngineEvent = { type: 'wait-state-entered', instanceId: 'i1', waitState: 'w' };

      lifecycle.publish({ instanceId: 'i1', status: 'running' }, [event]);

      expect(seen).toEqual([event]);
    });
  });

  describe('.restoreAll', () => {
    it('restores every listed instance and reports a failing one without stopping the others', async () => {
      const { repository, errors, lifecycle } = setup();
      await repository.save('test-engine', 'a', '{}');
      await repository.save('test-engine', 'b', '{}');
      await repository.save('other-engine', 'c', '{}');
      const restored: string[] = [];

      await lifecycle.restoreAll(async (id) => {
        if (id === 'a') throw new Error('broken a');
        restored.push(id);
      });

      expect(restored).toEqual(['b']);
      expect(errors).toEqual([new Error('broken a')]);
    });

    it('reads running instances a page at a time, and a page only once the work of the last one settled', async () => {
      const { repository, events, lifecycle } = setup();
      for (let i = 0; i < 7; i++) await repository.save('test-engine', `r${i}`, '{}');
      for (let i = 0; i < 20; i++)
        await repository.save('test-engine', `e${i}`, '{}', { running: false });
      const lists: unknown[] = [];
      const list = repository.list.bind(repository);
      repository.list = (engine, filter) => {
        lists.push(filter);
        return list(engine, filter);
      };
      // A listener whose work (a release, in the coordinator) settles only when let go.
      const held: Array<() => void> = [];
      events.subscribe(() => new Promise<void>((resolve) => held.push(resolve)));
      let restoring = 0;
      let mostAtOnce = 0;
      const restored: string[] = [];

      const done = lifecycle.restoreAll(async (id) => {
        mostAtOnce = Math.max(mostAtOnce, ++restoring);
        await new Promise((resolve) => setImmediate(resolve));
        events.emit([{ type: 'wait-state-entered', instanceId: id, waitState: 'w' }]);
        restored.push(id);
        restoring--;
      }, 3);
      for (const page of [['r0', 'r1', 'r2'], ['r3', 'r4', 'r5'], ['r6']]) {
        // The page is restored; the next is not read until its listener work settles.
        while (held.length < page.length) await new Promise((resolve) => setImmediate(resolve));
        expect(restored.slice(-page.length)).toEqual(page);
        expect(restored).toHaveLength(Number(page[page.length - 1].slice(1)) + 1);
        held.splice(0).forEach((resolve) => resolve());
      }
      await done;

      expect(mostAtOnce).toBe(3);
      expect(lists).toEqual([
        { running: true, after: undefined, limit: 3 },
        { running: true, after: 'r2', limit: 3 },
        { running: true, after: 'r5', limit: 3 },
      ]);
    });
  });

  describe('.stop', () => {
    it('clears timers before and after work in progress, releases, then rejects whenEnded callers', async () => {
      const { records, mutex, lifecycle } = setup();
      records.set('i1', { instanceId: 'i1', status: 'running' });
      const steps: string[] = [];
      const ended = lifecycle.whenEnded('i1');
      let finish!: () => void;
      const gate = new Promise<void>((resolve) => (finish = resolve));
      void mutex.run('i1', async () => {
        await gate;
        steps.push('work done');
      });
      await new Promise((resolve) => setImmediate(resolve)); // the waiter is registered

      const stopped = lifecycle.stop(
        () => steps.push('clear timers'),
        async () => {
          steps.push('release');
        },
      );
      expect(lifecycle.stopped).toBe(true);
      expect(() => lifecycle.assertRunning()).toThrow(EngineStoppedError);
      finish();
      await stopped;

      expect(steps).toEqual(['clear timers', 'work done', 'clear timers', 'release']);
      await expect(ended).rejects.toBeInstanceOf(EngineStoppedError);
      await expect(lifecycle.whenEnded('i1')).rejects.toBeInstanceOf(EngineStoppedError);
    });
  });
});
