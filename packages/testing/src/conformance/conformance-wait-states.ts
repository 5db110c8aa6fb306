/// <reference types="jest" />
import { ConformanceNames } from './conformance-adapters';
import type { ConformanceCaseContext } from './conformance-context';

const { notice } = ConformanceNames;

/**
 * The conformance case "a wait state answered with no PSI call before it": the suite's wait
 * binding declares what `notice`'s wait state waits for; answers by business key are delivered,
 * parked before the wait and adopted when it is entered, and delivered across a restart.
 */
export function describeWaitStateCases(context: ConformanceCaseContext): void {
  const { open, restart } = context;

  describe('a wait state answered with no PSI call before it', () => {
    it('records what the wait state waits for when it is entered, and delivers an answer by business key', async () => {
      const world = await open();
      const id = await world.start('notice', { ref: 'N-1' });
      await world.at(id, notice.awaitNotice);
      expect(
        await world.eventually('the expectation is recorded', async () =>
          (await world.trail(id)).includes('awaiting') ? true : undefined,
        ),
      ).toBe(true);
      // Another instance's notice does not reach it.
      const other = await world.start('notice', { ref: 'N-2' });
      await world.at(other, notice.awaitNotice);

      expect(await world.notice({ ref: 'N-1', by: 'ops' }, 'notice-1')).toMatchObject({
        status: 'delivered',
        instanceId: id,
      });
      expect(await world.ended(id)).toMatchObject({ outcome: 'completed' });
      expect(await world.engine.getVariables(id)).toMatchObject({ ref: 'N-1', noticedBy: 'ops' });
      expect(await world.engine.getWaitStates(other)).toEqual([notice.awaitNotice]);
      // The same message again is a duplicate; a new one for the ended instance is late.
      expect(await world.notice({ ref: 'N-1', by: 'ops' }, 'notice-1')).toEqual({
        status: 'duplicate',
      });
      expect(await world.notice({ ref: 'N-1', by: 'later' }, 'notice-2')).toMatchObject({
        status: 'dead-lettered',
        reason: 'late',
      });
      expect(await world.trail(id)).toEqual(['awaiting', 'delivered', 'dead-lettered']);
    });

    it('parks an answer that comes before the instance waits, and delivers it when the wait state is entered', async () => {
      const world = await open();
      expect(await world.notice({ ref: 'N-E1', by: 'early bird' })).toMatchObject({
        status: 'parked',
      });
      const id = await world.start('notice', { ref: 'N-E1' });
      expect(await world.ended(id)).toMatchObject({ outcome: 'completed' });
      expect(await world.engine.getVariables(id)).toMatchObject({ noticedBy: 'early bird' });
      const trail = await world.trail(id);
      expect(trail.indexOf('awaiting')).toBeGreaterThan(-1);
      expect(trail.indexOf('delivered')).toBeGreaterThan(trail.indexOf('awaiting'));
      expect(await world.env.coordinator.deadLetters.list()).toEqual([]);
    });

    it('delivers an answer to an instance that waited across a restart', async () => {
      const first = await open();
      const id = await first.start('notice', { ref: 'N-R1' });
      await first.at(id, notice.awaitNotice);
      await first.eventually('the expectation is recorded', async () =>
        (await first.trail(id)).includes('awaiting') ? true : undefined,
      );

      const second = await restart(first);
      expect(await second.engine.getWaitStates(id)).toEqual([notice.awaitNotice]);
      expect(await second.notice({ ref: 'N-R1', by: 'after restart' })).toMatchObject({
        status: 'delivered',
        instanceId: id,
      });
      expect(await second.ended(id)).toMatchObject({ outcome: 'completed' });
      expect(await second.engine.getVariables(id)).toMatchObject({ noticedBy: 'after restart' });
      // The restart raised the entry again; it was recorded once.
      const awaiting = (await second.env.coordinator.auditTrail(id)).filter(
        (e) => e.kind === 'awaiting',
      );
      expect(awaiting).toHaveLength(1);
    });
  });
}
