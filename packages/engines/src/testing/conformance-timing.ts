/// <reference types="jest" />
import type { ReceiveOutcome } from '@psi/core';
import { ConformanceNames, PAGE_TIMEOUT_MS } from './conformance-adapters';
import type { ConformanceCaseContext } from './conformance-context';

const { order, page, transitions } = ConformanceNames;

/**
 * The conformance cases about time: an answer racing its timeout (exactly one winner), and an
 * instance waiting across a restart (answers delivered, parked ones released, timeouts armed).
 */
export function describeTimingCases(context: ConformanceCaseContext): void {
  const { freshFile, open, restart, services, startOrder } = context;

  describe('timeout race', () => {
    it('lets the timeout win when no answer came; the answer after it is late', async () => {
      const world = await open(freshFile());
      const id = await world.plugin.start('page', { who: 'ops-1' });
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
      const world = await open(freshFile());
      const id = await world.plugin.start('page', { who: 'ops-2' });
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
      const world = await open(freshFile());
      const offsets = [-40, -10, 0, 10, 40];
      const ids = await Promise.all(
        offsets.map((_, i) => world.plugin.start('page', { who: `race-${i}` })),
      );
      await Promise.all(ids.map((id) => world.at(id, page.awaitAck)));
      const outcomes = await Promise.all(
        ids.map(async (id, i) => {
          const sent = (await world.coordinator.auditTrail(id)).find((e) => e.kind === 'sent');
          const deadline = sent!.at + PAGE_TIMEOUT_MS;
          await new Promise((resolve) =>
            setTimeout(resolve, Math.max(0, deadline + offsets[i] - Date.now())),
          );
          const key = services().keyOf('page', 'who', `race-${i}`);
          return world.answer('ack', key, { by: `race-${i}` });
        }),
      );
      for (const [i, id] of ids.entries()) {
        const outcome: ReceiveOutcome = outcomes[i];
        if (outcome.status === 'delivered') {
          expect(await world.ended(id)).toMatchObject({ outcome: 'completed' });
          expect(await world.engine.getVariables(id)).toMatchObject({ answeredBy: `race-${i}` });
          expect(await world.trail(id)).not.toContain('timed-out');
        } else {
          expect(outcome).toMatchObject({ status: 'dead-lettered', reason: 'late' });
          await world.at(id, page.escalated);
          expect(await world.engine.getVariables(id)).not.toHaveProperty('answeredBy');
          expect(await world.trail(id)).toContain('timed-out');
          await world.engine.signal(id, page.escalated);
          expect(await world.ended(id)).toMatchObject({ outcome: 'completed' });
        }
      }
      const late = await world.coordinator.deadLetters.list({ reason: 'late' });
      expect(late).toHaveLength(outcomes.filter((o) => o.status !== 'delivered').length);
    });
  });

  describe('restart', () => {
    it('delivers an answer to an instance that waited across a restart, and the instance ends', async () => {
      const file = freshFile();
      const first = await open(file);
      const id = await startOrder(first, 'PO-R1');
      await first.at(id, order.prepare);
      await first.engine.signal(id, order.prepare, { transition: transitions.prepared });
      await first.at(id, order.awaitConfirmation);
      const key = services().keyOf('placeOrder', 'orderNumber', 'PO-R1');

      const second = await restart(first, file);
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
      const file = freshFile();
      const first = await open(file);
      const id = await startOrder(first, 'PO-R2');
      await first.at(id, order.prepare);
      const key = services().keyOf('placeOrder', 'orderNumber', 'PO-R2');
      expect(
        await first.answer('order-confirmed', key, { accepted: true, confirmationId: 'C-R2' }),
      ).toMatchObject({ status: 'parked' });

      const second = await restart(first, file);
      expect(await second.engine.getWaitStates(id)).toEqual([order.prepare]);
      await second.engine.signal(id, order.prepare, { transition: transitions.prepared });
      expect(await second.ended(id)).toMatchObject({ outcome: 'completed' });
      expect(await second.engine.getVariables(id)).toMatchObject({
        confirmationId: 'C-R2',
        bookingId: 'B-PO-R2',
      });
    });

    it('keeps a timeout armed across a restart', async () => {
      const file = freshFile();
      const first = await open(file);
      const id = await first.plugin.start('page', { who: 'ops-r' });
      await first.at(id, page.awaitAck);

      const second = await restart(first, file);
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
