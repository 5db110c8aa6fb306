import type { EngineEvent } from '@psi/core';
import { EngineEventHub } from './engine-event-hub';

const entered: EngineEvent = { type: 'wait-state-entered', instanceId: 'i1', waitState: 'w' };

describe(EngineEventHub, () => {
  describe('.emit', () => {
    it('hands every event to every listener in order', () => {
      const hub = new EngineEventHub(() => undefined);
      const seen: string[] = [];
      hub.subscribe((e) => seen.push(`a:${e.type}`));
      hub.subscribe((e) => seen.push(`b:${e.type}`));

      hub.emit([entered, { type: 'instance-ended', instanceId: 'i1', outcome: 'completed' }]);

      expect(seen).toEqual([
        'a:wait-state-entered',
        'b:wait-state-entered',
        'a:instance-ended',
        'b:instance-ended',
      ]);
    });

    it('reports a throwing listener and still reaches the others', () => {
      const errors: unknown[] = [];
      const hub = new EngineEventHub((error) => errors.push(error));
      const seen: string[] = [];
      hub.subscribe(() => {
        throw new Error('listener bug');
      });
      hub.subscribe((e) => seen.push(e.type));

      hub.emit([entered]);

      expect(seen).toEqual(['wait-state-entered']);
      expect(errors).toEqual([new Error('listener bug')]);
    });

    it('reports a listener whose promise rejects', async () => {
      const reported = new Promise<unknown>((resolve) => {
        const hub = new EngineEventHub(resolve);
        hub.subscribe(() => Promise.reject(new Error('async listener bug')));
        hub.emit([entered]);
      });

      await expect(reported).resolves.toEqual(new Error('async listener bug'));
    });

    it('emits nothing once closed, nor to unsubscribed listeners', () => {
      const hub = new EngineEventHub(() => undefined);
      const seen: string[] = [];
      const unsubscribe = hub.subscribe((e) => seen.push(`gone:${e.type}`));
      hub.subscribe((e) => seen.push(e.type));
      unsubscribe();

      hub.emit([entered]);
      hub.close();
      hub.emit([entered]);

      expect(seen).toEqual(['wait-state-entered']);
    });
  });
});
