import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PsiStore, type ReceiveOutcome } from '@psi/core';
import { PsiTestEnvironment } from '@psi/testing';
import {
  ConformanceNames,
  ConformanceServiceDoubles,
  conformanceAdapters,
} from '@psi/testing/conformance';
import {
  conformanceHarness,
  conformancePlugins,
  createConformanceEngine,
  type ConformanceEngine,
} from './conformance/plugins';

// Issue 16.1: `engine.restore()` and `coordinator.start()` may come in either order. The
// coordinator listens from its creation and handles the events a restore raises before start()
// once it starts; so an instance that entered a service step while no coordinator listened is
// invoked, and an answer parked for an instance that reached its wait state meanwhile is
// delivered, on every plugin, both ways. Each "process" below is a store and a plugin alone, or
// a PsiTestEnvironment (option `restore` picks the order), on one SQLite file, closed before the
// next opens it.

const { order, transitions } = ConformanceNames;
const orders = ['restore, then start', 'start, then restore'] as const;

describe.each(conformancePlugins)('restart order (%s)', (plugin) => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-restart-order-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A process with the plugin only: what it changes, no coordinator hears. */
  async function engineAlone<T>(
    file: string,
    work: (engine: ConformanceEngine) => Promise<T>,
  ): Promise<T> {
    const store = await PsiStore.open({ sqlitePath: file });
    const engine = createConformanceEngine(plugin, store.engineStates());
    try {
      return await work(engine);
    } finally {
      await engine.stop();
      await store.close();
    }
  }

  /** A process with plugin and coordinator, restored and started in `sequence`. */
  async function node<T>(
    file: string,
    services: ConformanceServiceDoubles,
    sequence: (typeof orders)[number],
    work: (env: PsiTestEnvironment) => Promise<T>,
  ): Promise<T> {
    const env = await PsiTestEnvironment.create({
      store: { path: file },
      engine: conformanceHarness(plugin).engine,
      adapters: [...conformanceAdapters],
      services: services.operations(),
      restore: sequence === 'restore, then start' ? 'before-start' : true,
    });
    try {
      const result = await work(env);
      await env.coordinator.idle();
      expect(env.problems).toEqual([]);
      return result;
    } finally {
      await env.dispose();
    }
  }

  it.each(orders)(
    '%s: a service step entered while no coordinator listened is invoked, an answer parked before the instance waited is delivered',
    async (sequence) => {
      const file = path.join(dir, `${plugin}-${sequence.replace(/\W+/g, '-')}.sqlite`);
      const services = new ConformanceServiceDoubles();

      // 1. The engine alone starts the instance: it enters "place-order", nobody invokes it.
      const id = await engineAlone(file, async (engine) => {
        const started = await engine.start('order', { orderNumber: 'PO-77' });
        expect(await engine.engine.getWaitStates(started)).toEqual([order.placeOrder]);
        return started;
      });

      // 2. A node restores and starts: the step is invoked (the supplier gets the order); the
      //    supplier's confirmation comes while the instance is at "prepare" and is parked.
      const parked = await node(file, services, sequence, async (env) => {
        await env.whenWaitingAt(id, order.prepare); // the service step was invoked
        expect(services.calls.map((c) => c.operation)).toEqual(['placeOrder']);
        return env.answer({
          event: 'order-confirmed',
          correlationKey: services.keyOf('placeOrder', 'orderNumber', 'PO-77'),
          payload: { accepted: true, confirmationId: 'C-77' },
          messageId: 'confirmation-77',
        });
      });
      expect(parked).toMatchObject<Partial<ReceiveOutcome>>({ status: 'parked' });

      // 3. The engine alone takes the instance to the wait state: nobody hears it.
      await engineAlone(file, async (engine) => {
        await engine.engine.signal(id, order.prepare, { transition: transitions.prepared });
        expect(await engine.engine.getWaitStates(id)).toEqual([order.awaitConfirmation]);
      });

      // 4. A node restores and starts: the parked answer is delivered, the order booked.
      await node(file, services, sequence, async (env) => {
        await env.whenEnded(id);
        expect(await env.engine.getWaitStates(id)).toEqual([]);
        expect(await env.variables(id)).toMatchObject({
          confirmationId: 'C-77',
          bookingId: 'B-PO-77',
        });
        const trail = await env.trail(id);
        expect(trail.slice(0, 5)).toEqual(['invoked', 'sent', 'completed', 'parked', 'released']);
        // The delivery's signal starts the booking step at once: their entries interleave.
        expect(trail.slice(5).sort()).toEqual(['completed', 'delivered', 'invoked', 'sent']);
        expect(await env.deadLetters()).toEqual([]);
      });
      expect(services.calls.map((c) => c.operation)).toEqual(['placeOrder', 'book']);
    },
    60_000,
  );
});
