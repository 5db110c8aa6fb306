/// <reference types="jest" />
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  PsiError,
  type EngineSignalRejectedError,
  PsiErrorCode,
  type ReceiveOutcome,
  type SignalOptions,
} from '@psi/core';
import { ConformanceNames, PAGE_TIMEOUT_MS } from './conformance-adapters';
import {
  ConformanceServiceDoubles,
  ConformanceWorld,
  type EngineConformanceHarness,
} from './conformance-world';

const { order, page, dispatch, notice, transitions } = ConformanceNames;

/**
 * The behaviour every PEAL plugin must show, as one jest `describe` block, run through the real
 * `Coordinator` on a real SQLite file: variables round trip, the wait-state query, a signal
 * guarded by the state it names, an early answer parked and delivered on readiness, one of many
 * answers, an answer racing a timeout, and a restart in the middle of a wait.
 *
 * The plugin models the standard processes described at {@link ConformanceNames}; the adapters
 * are the suite's own ({@link conformanceAdapters}) and run unchanged on every plugin.
 *
 * ```ts
 * describeEngineConformance('my-engine', {
 *   createEngine: (repository) => { const e = new MyEngine({ repository, definitions }); return {
 *     engine: e, start: (p, v) => e.start(ids[p], v), restore: () => e.restore(), stop: () => e.stop() } },
 *   wiring: { createTransport: (s) => ..., createRegistry: (e) => new StaticRegistry(e) },
 * });
 * ```
 */
export function describeEngineConformance(name: string, harness: EngineConformanceHarness): void {
  describe(`${name}: PEAL conformance`, () => {
    let dir: string;
    let sequence = 0;
    let services: ConformanceServiceDoubles;
    const worlds: ConformanceWorld[] = [];
    const releases: Array<() => void> = [];

    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-engine-conformance-'));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    beforeEach(() => {
      services = new ConformanceServiceDoubles();
    });
    afterEach(async () => {
      for (const release of releases.splice(0)) release();
      const errors = worlds.flatMap((w) => w.errors);
      for (const world of worlds.splice(0)) await world.close();
      expect(errors).toEqual([]);
    });

    /** A new SQLite file for the test. */
    function freshFile(): string {
      return path.join(dir, `store-${++sequence}.sqlite`);
    }

    async function open(file: string): Promise<ConformanceWorld> {
      const world = await ConformanceWorld.open(file, harness, services);
      worlds.push(world);
      return world;
    }

    /** Closes `world` (as an exiting process would) and opens a new one on the same file. */
    async function restart(world: ConformanceWorld, file: string): Promise<ConformanceWorld> {
      worlds.splice(worlds.indexOf(world), 1);
      const errors = [...world.errors];
      await world.close();
      expect(errors).toEqual([]);
      return open(file);
    }

    async function expectRejected(
      world: ConformanceWorld,
      instanceId: string,
      waitState: string,
      options?: SignalOptions,
    ): Promise<EngineSignalRejectedError> {
      const error: unknown = await world.engine.signal(instanceId, waitState, options).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(PsiError.is(error) && error.code).toBe(PsiErrorCode.EngineSignalRejected);
      return error as EngineSignalRejectedError;
    }

    function startOrder(world: ConformanceWorld, orderNumber: string, extra = {}) {
      return world.plugin.start('order', { orderNumber, ...extra });
    }

    describe('variables', () => {
      it('reads back start variables, merges setVariables and signal variables, and keeps adapter outputs', async () => {
        const world = await open(freshFile());
        const initial = {
          orderNumber: 'PO-V1',
          customer: { name: 'ACME Tools', tags: ['a', 'b'], address: { city: 'Zürich' } },
          quantity: 3,
          urgent: true,
          note: null,
        };
        const id = await world.plugin.start('order', initial);
        await world.at(id, order.prepare);
        expect(await world.engine.getVariables(id)).toMatchObject(initial);

        const eventsBefore = world.events.length;
        await world.engine.setVariables(id, { quantity: 4, approvedBy: 'alice' });
        expect(await world.engine.getVariables(id)).toMatchObject({
          ...initial,
          quantity: 4,
          approvedBy: 'alice',
        });
        expect(await world.engine.getWaitStates(id)).toEqual([order.prepare]);
        expect(world.events.length).toBe(eventsBefore); // setVariables does not move the instance

        await world.engine.signal(id, order.prepare, {
          transition: transitions.prepared,
          variables: { preparedBy: 'bob' },
        });
        await world.at(id, order.awaitConfirmation);
        const key = services.keyOf('placeOrder', 'orderNumber', 'PO-V1');
        expect(
          await world.answer('order-confirmed', key, { accepted: true, confirmationId: 'C-1' }),
        ).toMatchObject({ status: 'delivered', instanceId: id });
        expect(await world.ended(id)).toMatchObject({ outcome: 'completed' });
        expect(await world.engine.getVariables(id)).toMatchObject({
          ...initial,
          quantity: 4,
          approvedBy: 'alice',
          preparedBy: 'bob',
          confirmationId: 'C-1',
          bookingId: 'B-PO-V1',
        });
      });
    });

    describe('wait-state query', () => {
      it('names the service step, then the wait state, and nothing once the instance ended', async () => {
        const world = await open(freshFile());
        const release = services.holdSupplier();
        releases.push(release);
        const id = await startOrder(world, 'PO-Q1');
        await world.at(id, order.placeOrder);
        expect(await world.engine.getWaitStates(id)).toEqual([order.placeOrder]);
        const entered = world.events.filter(
          (e) => e.type === 'service-step-entered' && e.instanceId === id,
        );
        expect(entered).toEqual([
          {
            type: 'service-step-entered',
            instanceId: id,
            step: order.placeOrder,
            activationId: expect.any(String),
          },
        ]);

        release();
        await world.at(id, order.prepare);
        expect(await world.engine.getWaitStates(id)).toEqual([order.prepare]);
        expect(world.events).toContainEqual(
          expect.objectContaining({
            type: 'wait-state-entered',
            instanceId: id,
            waitState: order.prepare,
          }),
        );

        await world.engine.signal(id, order.prepare, { transition: transitions.prepared });
        await world.at(id, order.awaitConfirmation);
        const key = services.keyOf('placeOrder', 'orderNumber', 'PO-Q1');
        await world.answer('order-confirmed', key, { accepted: false });
        expect(await world.ended(id)).toEqual({
          type: 'instance-ended',
          instanceId: id,
          outcome: 'completed',
        });
        expect(await world.engine.getWaitStates(id)).toEqual([]);
        // "rejected" ends the instance without booking.
        expect(services.calls.filter((c) => c.operation === 'book')).toEqual([]);
        expect(world.events.filter((e) => e.type === 'instance-ended')).toHaveLength(1);
      });

      it('throws InstanceNotFoundError for an instance it does not know', async () => {
        const world = await open(freshFile());
        const error: unknown = await world.engine.getWaitStates('no-such-instance').then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(PsiError.is(error) && error.code).toBe(PsiErrorCode.InstanceNotFound);
      });
    });

    describe('guarded signal', () => {
      it('refuses a signal for a state the instance is not in, naming where it is, and changes nothing', async () => {
        const world = await open(freshFile());
        const id = await startOrder(world, 'PO-G1');
        await world.at(id, order.prepare);

        const error = await expectRejected(world, id, order.awaitConfirmation, {
          transition: transitions.confirmed,
          variables: { sneaky: true },
        });
        expect(error.currentStates).toContain(order.prepare);
        await expectRejected(world, id, order.book);
        expect(await world.engine.getWaitStates(id)).toEqual([order.prepare]);
        expect(await world.engine.getVariables(id)).not.toHaveProperty('sneaky');
      });

      it('takes the named transition from the state it names', async () => {
        const world = await open(freshFile());
        const id = await startOrder(world, 'PO-G2');
        await world.at(id, order.prepare);
        await world.engine.signal(id, order.prepare, {
          transition: transitions.prepared,
          variables: { preparedBy: 'alice' },
        });
        expect(await world.engine.getWaitStates(id)).toEqual([order.awaitConfirmation]);
        expect(await world.engine.getVariables(id)).toMatchObject({ preparedBy: 'alice' });

        const key = services.keyOf('placeOrder', 'orderNumber', 'PO-G2');
        await world.answer('order-confirmed', key, { accepted: true, confirmationId: 'C-2' });
        expect(await world.ended(id)).toMatchObject({ outcome: 'completed' });
        // "confirmed" leads through the booking step.
        expect(services.calls.filter((c) => c.operation === 'book')).toHaveLength(1);
        const refused = await expectRejected(world, id, order.prepare);
        expect(refused.currentStates).toEqual([]);
      });

      it('aborts the instance on a fault the process does not catch', async () => {
        const world = await open(freshFile());
        const id = await startOrder(world, 'PO-F1');
        await world.at(id, order.prepare);
        await world.engine.signal(id, order.prepare, {
          fault: { code: 'CONFORMANCE_UNCAUGHT', message: 'nobody catches this' },
        });
        expect(await world.ended(id)).toMatchObject({ outcome: 'aborted' });
        expect(await world.engine.getWaitStates(id)).toEqual([]);
      });
    });

    describe('signal ids', () => {
      it('applies a signal id once: a repeat changes nothing, wherever the instance is, also after a restart and the end', async () => {
        const file = freshFile();
        const world = await open(file);
        const engine = world.engine;
        expect(typeof engine.hasAppliedSignal).toBe('function');
        const applied = (id: string, signalId: string) => engine.hasAppliedSignal!(id, signalId);
        const id = await startOrder(world, 'PO-S1');
        await world.at(id, order.prepare);
        expect(await applied(id, 'conformance:prepared')).toBe(false);

        await engine.signal(id, order.prepare, {
          transition: transitions.prepared,
          variables: { preparedBy: 'alice' },
          signalId: 'conformance:prepared',
        });
        expect(await engine.getWaitStates(id)).toEqual([order.awaitConfirmation]);
        expect(await applied(id, 'conformance:prepared')).toBe(true);

        // A repeat resolves without effect: at the state it left, and at the state it is in
        // now (which would take it), as at a later visit of the same wait state.
        const eventsBefore = world.events.length;
        await engine.signal(id, order.prepare, {
          transition: transitions.prepared,
          variables: { preparedBy: 'bob' },
          signalId: 'conformance:prepared',
        });
        await engine.signal(id, order.awaitConfirmation, {
          transition: transitions.rejected,
          signalId: 'conformance:prepared',
        });
        expect(await engine.getWaitStates(id)).toEqual([order.awaitConfirmation]);
        expect(await engine.getVariables(id)).toMatchObject({ preparedBy: 'alice' });
        expect(world.events.length).toBe(eventsBefore);

        // The ids are kept with the instance's state: a restarted engine knows them.
        const second = await restart(world, file);
        await second.engine.signal(id, order.awaitConfirmation, {
          transition: transitions.rejected,
          signalId: 'conformance:prepared',
        });
        expect(await second.engine.getWaitStates(id)).toEqual([order.awaitConfirmation]);

        // A new id is a new signal; an ended instance still knows its ids; a refused signal's
        // id is not kept.
        await second.engine.signal(id, order.awaitConfirmation, {
          transition: transitions.rejected,
          signalId: 'conformance:rejected',
        });
        expect(await second.ended(id)).toMatchObject({ outcome: 'completed' });
        await second.engine.signal(id, order.awaitConfirmation, {
          transition: transitions.rejected,
          signalId: 'conformance:rejected',
        });
        await expectRejected(second, id, order.awaitConfirmation, {
          transition: transitions.rejected,
          signalId: 'conformance:too-late',
        });
        expect(await second.engine.hasAppliedSignal!(id, 'conformance:too-late')).toBe(false);
      });
    });

    describe('early answer', () => {
      it('parks an answer that comes before the instance waits for it, and delivers it on readiness', async () => {
        const world = await open(freshFile());
        const id = await startOrder(world, 'PO-E1');
        await world.at(id, order.prepare);
        const key = services.keyOf('placeOrder', 'orderNumber', 'PO-E1');

        const outcome = await world.answer('order-confirmed', key, {
          accepted: true,
          confirmationId: 'C-E1',
        });
        expect(outcome).toMatchObject({ status: 'parked', instanceId: id });
        expect(await world.engine.getWaitStates(id)).toEqual([order.prepare]);

        await world.engine.signal(id, order.prepare, { transition: transitions.prepared });
        expect(await world.ended(id)).toMatchObject({ outcome: 'completed' });
        expect(await world.engine.getVariables(id)).toMatchObject({
          confirmationId: 'C-E1',
          bookingId: 'B-PO-E1',
        });
        const trail = await world.trail(id);
        expect(trail.indexOf('parked')).toBeGreaterThan(-1);
        expect(trail.indexOf('delivered')).toBeGreaterThan(trail.indexOf('parked'));
        expect(await world.coordinator.deadLetters.list()).toEqual([]);
      });
    });

    describe('one of many', () => {
      it('delivers the first answer of the group with its transition; the later one is superseded', async () => {
        const world = await open(freshFile());
        const returned = await world.plugin.start('dispatch', { parcel: 'P-1' });
        const delivered = await world.plugin.start('dispatch', { parcel: 'P-2' });
        await world.at(returned, dispatch.awaitOutcome);
        await world.at(delivered, dispatch.awaitOutcome);
        const keyReturned = services.keyOf('dispatch', 'parcel', 'P-1');
        const keyDelivered = services.keyOf('dispatch', 'parcel', 'P-2');

        expect(await world.answer('returned', keyReturned, { reason: 'refused' })).toMatchObject({
          status: 'delivered',
          instanceId: returned,
        });
        expect(await world.answer('delivered', keyReturned, { by: 'driver' })).toMatchObject({
          status: 'dead-lettered',
          reason: 'superseded',
        });
        await world.at(returned, dispatch.refund);
        expect(await world.engine.getWaitStates(returned)).toEqual([dispatch.refund]);
        expect(await world.engine.getVariables(returned)).toMatchObject({
          outcome: 'returned: refused',
        });
        await world.engine.signal(returned, dispatch.refund);
        expect(await world.ended(returned)).toMatchObject({ outcome: 'completed' });

        expect(await world.answer('delivered', keyDelivered, { by: 'Mrs Smith' })).toMatchObject({
          status: 'delivered',
          instanceId: delivered,
        });
        expect(await world.answer('returned', keyDelivered, { reason: 'late' })).toMatchObject({
          status: 'dead-lettered',
          reason: 'superseded',
        });
        expect(await world.ended(delivered)).toMatchObject({ outcome: 'completed' });
        expect(await world.engine.getVariables(delivered)).toMatchObject({
          outcome: 'delivered by Mrs Smith',
        });
      });
    });

    describe('timeout race', () => {
      it('lets the timeout win when no answer came; the answer after it is late', async () => {
        const world = await open(freshFile());
        const id = await world.plugin.start('page', { who: 'ops-1' });
        await world.at(id, page.escalated);
        const key = services.keyOf('page', 'who', 'ops-1');
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
        const key = services.keyOf('page', 'who', 'ops-2');
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
            const key = services.keyOf('page', 'who', `race-${i}`);
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

    describe('a wait state answered with no PSI call before it', () => {
      it('records what the wait state waits for when it is entered, and delivers an answer by business key', async () => {
        const world = await open(freshFile());
        const id = await world.plugin.start('notice', { ref: 'N-1' });
        await world.at(id, notice.awaitNotice);
        expect(
          await world.eventually('the expectation is recorded', async () =>
            (await world.trail(id)).includes('awaiting') ? true : undefined,
          ),
        ).toBe(true);
        // Another instance's notice does not reach it.
        const other = await world.plugin.start('notice', { ref: 'N-2' });
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
        const world = await open(freshFile());
        expect(await world.notice({ ref: 'N-E1', by: 'early bird' })).toMatchObject({
          status: 'parked',
        });
        const id = await world.plugin.start('notice', { ref: 'N-E1' });
        expect(await world.ended(id)).toMatchObject({ outcome: 'completed' });
        expect(await world.engine.getVariables(id)).toMatchObject({ noticedBy: 'early bird' });
        const trail = await world.trail(id);
        expect(trail.indexOf('awaiting')).toBeGreaterThan(-1);
        expect(trail.indexOf('delivered')).toBeGreaterThan(trail.indexOf('awaiting'));
        expect(await world.coordinator.deadLetters.list()).toEqual([]);
      });

      it('delivers an answer to an instance that waited across a restart', async () => {
        const file = freshFile();
        const first = await open(file);
        const id = await first.plugin.start('notice', { ref: 'N-R1' });
        await first.at(id, notice.awaitNotice);
        await first.eventually('the expectation is recorded', async () =>
          (await first.trail(id)).includes('awaiting') ? true : undefined,
        );

        const second = await restart(first, file);
        expect(await second.engine.getWaitStates(id)).toEqual([notice.awaitNotice]);
        expect(await second.notice({ ref: 'N-R1', by: 'after restart' })).toMatchObject({
          status: 'delivered',
          instanceId: id,
        });
        expect(await second.ended(id)).toMatchObject({ outcome: 'completed' });
        expect(await second.engine.getVariables(id)).toMatchObject({ noticedBy: 'after restart' });
        // The restart raised the entry again; it was recorded once.
        const awaiting = (await second.coordinator.auditTrail(id)).filter(
          (e) => e.kind === 'awaiting',
        );
        expect(awaiting).toHaveLength(1);
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
        const key = services.keyOf('placeOrder', 'orderNumber', 'PO-R1');

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
        const key = services.keyOf('placeOrder', 'orderNumber', 'PO-R2');
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
        const key = services.keyOf('page', 'who', 'ops-r');
        expect(await second.answer('ack', key, { by: 'ops-r' })).toMatchObject({
          status: 'dead-lettered',
          reason: 'late',
        });
        await second.engine.signal(id, page.escalated);
        expect(await second.ended(id)).toMatchObject({ outcome: 'completed' });
      });
    });
  });
}
