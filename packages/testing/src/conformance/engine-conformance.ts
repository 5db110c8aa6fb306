/// <reference types="jest" />
import {
  PsiError,
  type EngineSignalRejectedError,
  PsiErrorCode,
  type SignalOptions,
} from '@psi/core';
import { ConformanceNames } from './conformance-adapters';
import type { ConformanceCaseContext } from './conformance-context';
import { describeTimingCases } from './conformance-timing';
import { describeWaitStateCases } from './conformance-wait-states';
import {
  ConformanceServiceDoubles,
  ConformanceWorld,
  type EngineConformanceHarness,
} from './conformance-world';

const { order, dispatch, transitions } = ConformanceNames;

/**
 * The behaviour every PEAL plugin must show, as one jest `describe` block, run through the real
 * `Coordinator` in a `PsiTestEnvironment` (a throwaway SQLite store, a test clock): variables
 * round trip, the wait-state query, a signal guarded by the state it names, an early answer
 * parked and delivered on readiness, one of many answers, an answer racing a timeout, and a
 * restart in the middle of a wait.
 *
 * The plugin models the standard processes described at {@link ConformanceNames}; the adapters
 * are the suite's own ({@link conformanceAdapters}) and run unchanged on every plugin.
 *
 * ```ts
 * import { referenceEngine } from '@psi/testing';
 * import { describeEngineConformance } from '@psi/testing/conformance';
 *
 * describeEngineConformance('my engine', {
 *   engine: ({ stateRepository, clock, onError }) => new MyEngine({ definitions, stateRepository,
 *     timers: clock, clock: () => clock.now(), onError }),
 *   processes: { order: 'my-order', page: 'my-page', dispatch: 'my-dispatch', notice: 'my-notice' },
 * });
 * ```
 */
export function describeEngineConformance(name: string, harness: EngineConformanceHarness): void {
  describe(`${name}: PEAL conformance`, () => {
    let services: ConformanceServiceDoubles;
    const worlds: ConformanceWorld[] = [];
    const releases: Array<() => void> = [];

    beforeEach(() => {
      services = new ConformanceServiceDoubles();
    });
    afterEach(async () => {
      for (const release of releases.splice(0)) release();
      const errors = worlds.flatMap((w) => w.errors);
      for (const world of worlds.splice(0)) await world.env.dispose();
      expect(errors).toEqual([]);
    });

    async function open(): Promise<ConformanceWorld> {
      const world = await ConformanceWorld.open(harness, services);
      worlds.push(world);
      return world;
    }

    /** Closes `world` (as an exiting process would) and opens it again on the same store. */
    async function restart(world: ConformanceWorld): Promise<ConformanceWorld> {
      expect(world.errors).toEqual([]);
      return world.restart();
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
      return world.start('order', { orderNumber, ...extra });
    }

    describe('variables', () => {
      it('reads back start variables, merges setVariables and signal variables, and keeps adapter outputs', async () => {
        const world = await open();
        const initial = {
          orderNumber: 'PO-V1',
          customer: { name: 'ACME Tools', tags: ['a', 'b'], address: { city: 'Zürich' } },
          quantity: 3,
          urgent: true,
          note: null,
        };
        const id = await world.start('order', initial);
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
        const world = await open();
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
        const world = await open();
        const error: unknown = await world.engine.getWaitStates('no-such-instance').then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(PsiError.is(error) && error.code).toBe(PsiErrorCode.InstanceNotFound);
      });
    });

    describe('guarded signal', () => {
      it('refuses a signal for a state the instance is not in, naming where it is, and changes nothing', async () => {
        const world = await open();
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
        const world = await open();
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
        const world = await open();
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
        const world = await open();
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
        const second = await restart(world);
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
        const world = await open();
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
        expect(await world.env.coordinator.deadLetters.list()).toEqual([]);
      });
    });

    describe('one of many', () => {
      it('delivers the first answer of the group with its transition; the later one is superseded', async () => {
        const world = await open();
        const returned = await world.start('dispatch', { parcel: 'P-1' });
        const delivered = await world.start('dispatch', { parcel: 'P-2' });
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

    const context: ConformanceCaseContext = {
      open,
      restart,
      services: () => services,
      startOrder,
    };
    describeTimingCases(context);
    describeWaitStateCases(context);
  });
}
