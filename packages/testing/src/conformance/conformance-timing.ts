/// <reference types="jest" />
import { ConformanceNames, PAGE_TIMEOUT_MS } from './conformance-adapters';
import type { ConformanceCaseContext } from './conformance-context';

const { order, page, transitions } = ConformanceNames;

/**
 * The conformance cases about time: an answer racing its timeout (exactly one winner), and an
 * instance waiting across a restart (answers delivered, parked ones released, timeouts armed).
 * Time moves on the world's test clock: a timeout fires when the case moves the clock past it.
 */
export function describeTimingCases(context: ConformanceCaseContext): void {
  const { open, restart, services, startOrder } = context;

  describe('timeout race', () => {
    it('lets the timeout win when no answer came; the answer after it is late', async () => {
      const world = await open();
      const id = await world.start('page', { who: 'ops-1' });
      await world.at(id, page.awaitAck);
      await world.env.clock.advance(PAGE_TIMEOUT_MS);
      await world.at(id, page.escalated);
      const key = services().keyOf('page', 'who', 'ops-1');
      expect(await world.answer('ack', key, { by: 'ops-1' })).toMatchObject({
        status: 'dead-lettered',
        reason: 'late',
      });
      expect(await world.engine.getVariables(id)).not.toHaveProperty('answeredBy');
      await world.engine.signal(id, page.escalated);
      expect(await world.ended(id)).toMatchObject({ outcome: 'completed' });
      expect(await world.trail(id)).toContain('timed-out');
    });

    it('lets the answer win when it comes first; the timeout does not fire', async () => {
      const world = await open();
      const id = await world.start('page', { who: 'ops-2' });
      await world.at(id, page.awaitAck);
      const key = services().keyOf('page', 'who', 'ops-2');
      expect(await world.answer('ack', key, { by: 'ops-2' })).toMatchObject({
        status: 'delivered',
      });
      expect(await world.ended(id)).toMatchObject({ outcome: 'completed' });
      expect(await world.engine.getVariables(id)).toMatchObject({ answeredBy: 'ops-2' });
      expect(await world.trail(id)).not.toContain('timed-out');
    });

    it('has exactly one winner when answers arrive around the deadline', async () => {
      const world = await open();
      // Before, on and after the deadline; on it, once with the answer first, once the timeout.
      const arrivals = [
        { offsetMs: -40, wins: true },
        { offsetMs: -1, wins: true },
        { offsetMs: 0, first: 'answer' as const, wins: true },
        { offsetMs: 0, first: 'timeout' as const, wins: false },
        { offsetMs: 1, wins: false },
        { offsetMs: 40, wins: false },
      ];
      const ids: string[] = [];
      for (let i = 0; i < arrivals.length; i++) {
        ids.push(await world.start('page', { who: `race-${i}` }));
        await world.at(ids[i], page.awaitAck);
      }
      const sentAt = async (id: string) =>
        (await world.env.coordinator.auditTrail(id)).find((e) => e.kind === 'sent')!.at;
      const deadlines = await Promise.all(
        ids.map(async (id) => (await sentAt(id)) + PAGE_TIMEOUT_MS),
      );
      // Each answer arrives at its time relative to its own instance's deadline, in time order.
      const order = [...arrivals.keys()].sort(
        (a, b) => deadlines[a] + arrivals[a].offsetMs - (deadlines[b] + arrivals[b].offsetMs),
      );
      for (const i of order) {
        const { offsetMs, first } = arrivals[i];
        // `first: 'answer'` leaves the timeouts due on that tick until after the answer.
        await world.env.clock.advanceTo(deadlines[i] + offsetMs, {
          fireAtTarget: first !== 'answer',
        });
        const key = services().keyOf('page', 'who', `race-${i}`);
        const outcome = await world.answer('ack', key, { by: `race-${i}` });
        if (arrivals[i].wins) {
          expect(outcome).toMatchObject({ status: 'delivered' });
          expect(await world.ended(ids[i])).toMatchObject({ outcome: 'completed' });
          expect(await world.engine.getVariables(ids[i])).toMatchObject({
            answeredBy: `race-${i}`,
          });
          expect(await world.trail(ids[i])).not.toContain('timed-out');
        } else {
          expect(outcome).toMatchObject({ status: 'dead-lettered', reason: 'late' });
          await world.at(ids[i], page.escalated);
          expect(await world.engine.getVariables(ids[i])).not.toHaveProperty('answeredBy');
          expect(await world.trail(ids[i])).toContain('timed-out');
          await world.engine.signal(ids[i], page.escalated);
          expect(await world.ended(ids[i])).toMatchObject({ outcome: 'completed' });
        }
      }
      const late = await world.env.coordinator.deadLetters.list({ reason: 'late' });
      expect(late).toHaveLength(arrivals.filter((a) => !a.wins).length);
    });
  });

  describe('restart', () => {
    it('delivers an answer to an instance that waited across a restart, and the instance ends', async () => {
      const first = await open();
      const id = await startOrder(first, 'PO-R1');
      await first.at(id, order.prepare);
      await first.engine.signal(id, order.prepare, { transition: transitions.prepared });
      await first.at(id, order.awaitConfirmation);
      const key = services().keyOf('placeOrder', 'orderNumber', 'PO-R1');

      const second = await restart(first);
      expect(await second.engine.getWaitStates(id)).toEqual([order.awaitConfirmation]);
      expect(
        await second.answer('order-confirmed', key, { accepted: true, confirmationId: 'C-R1' }),
      ).toMatchObject({ status: 'delivered', instanceId: id });
      expect(await second.ended(id)).toMatchObject({ outcome: 'completed' });
      expect(await second.engine.getVariables(id)).toMatchObject({
        orderNumber: 'PO-R1',
        confirmationId: 'C-R1',
        bookingId: 'B-PO-R1',
      });
    });

    it('delivers an answer parked before a restart once the restored instance is ready', async () => {
      const first = await open();
      const id = await startOrder(first, 'PO-R2');
      await first.at(id, order.prepare);
      const key = services().keyOf('placeOrder', 'orderNumber', 'PO-R2');
      expect(
        await first.answer('order-confirmed', key, { accepted: true, confirmationId: 'C-R2' }),
      ).toMatchObject({ status: 'parked' });

      const second = await restart(first);
      expect(await second.engine.getWaitStates(id)).toEqual([order.prepare]);
      await second.engine.signal(id, order.prepare, { transition: transitions.prepared });
      expect(await second.ended(id)).toMatchObject({ outcome: 'completed' });
      expect(await second.engine.getVariables(id)).toMatchObject({
        confirmationId: 'C-R2',
        bookingId: 'B-PO-R2',
      });
    });

    it('keeps a timeout armed across a restart', async () => {
      const first = await open();
      const id = await first.start('page', { who: 'ops-r' });
      await first.at(id, page.awaitAck);

      const second = await restart(first);
      await second.env.clock.advance(PAGE_TIMEOUT_MS);
      await second.at(id, page.escalated);
      const key = services().keyOf('page', 'who', 'ops-r');
      expect(await second.answer('ack', key, { by: 'ops-r' })).toMatchObject({
        status: 'dead-lettered',
        reason: 'late',
      });
      await second.engine.signal(id, page.escalated);
      expect(await second.ended(id)).toMatchObject({ outcome: 'completed' });
    });
  });
}
