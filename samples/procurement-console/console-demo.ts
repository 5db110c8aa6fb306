import fastify, { type FastifyInstance } from 'fastify';
import { InProcessTransport } from '@psi/adapters';
import { psiConsole } from '@psi/console';
import { Coordinator, PsiStore } from '@psi/core';
import { ReferenceEngine, type InstanceSnapshot } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import { InsertIntoErpAdapter } from '../procurement/adapters/insert-into-erp.adapter';
import { SendOrderAdapter } from '../procurement/adapters/send-order.adapter';
import { procurementProcess } from '../procurement/procurement.process';
import {
  MANUAL_STEP,
  PRINTED_SIGNAL,
  PROCUREMENT_ORDER,
} from '../procurement/procurement-scenario';
import { createErp, createSupplier } from '../procurement/services';

export interface ConsoleDemoOptions {
  /** The store (SQLite file); the CLI is pointed at the same file. */
  sqlitePath: string;
  /** @default 0 (a free port) */
  port?: number;
  /** Orders whose printer jams, so their confirmation expires into a dead letter. @default 1 */
  jammed?: number;
  /** How long an early confirmation stays parked. @default 1000 */
  parkingTtlMs?: number;
  print?: (line: string) => void;
}

/** An order whose confirmation became a dead letter on purpose. */
export interface JammedOrder {
  instanceId: string;
  orderNumber: string;
  deadLetterId: string;
}

export interface ConsoleDemo {
  /** The console, e.g. http://127.0.0.1:4100/psi/ */
  consoleUrl: string;
  app: FastifyInstance;
  coordinator: Coordinator;
  engine: ReferenceEngine;
  jammed: JammedOrder[];
  /** Resolves when the instance ended (after its dead letter was replayed). */
  whenEnded(instanceId: string): Promise<InstanceSnapshot>;
  close(): Promise<void>;
}

async function until<T>(
  check: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`demo: ${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * The procurement demo with the console mounted in the application's own fastify app (under
 * /psi, local-only: this is a demo on one machine). One order runs through; then in each
 * "jammed" order the supplier's confirmation arrives while the order is still printing, the
 * printer jams, and the confirmation, parked for `parkingTtlMs`, expires: a dead letter, made on
 * purpose. The printer is fixed and the order waits at "await-confirmation" — for an operator to
 * find the dead letter and replay it, from the CLI or the console.
 */
export async function startConsoleDemo(options: ConsoleDemoOptions): Promise<ConsoleDemo> {
  const print = options.print ?? (() => undefined);
  const store = await PsiStore.open({ sqlitePath: options.sqlitePath });
  const engine = new ReferenceEngine({
    definitions: [procurementProcess],
    stateRepository: store.engineStates(),
  });
  // A sample program: it shows users how to wire PSI, so it does not use @psi/testing.
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({
      supplier: {
        transport: 'in-process',
        address: 'supplier',
        parkingTtlMs: options.parkingTtlMs ?? 1_000,
      },
      erp: { transport: 'in-process', address: 'erp' },
    }),
    transports: [
      new InProcessTransport().register('supplier', createSupplier()).register('erp', createErp()),
    ],
    adapters: [SendOrderAdapter, InsertIntoErpAdapter],
    operations: { pollMs: 200 },
  });
  await coordinator.start();
  await engine.restore();

  // The application's own app; the console is one plugin in it.
  const app = fastify();
  app.get('/', async () => ({ app: 'procurement', console: '/psi/' }));
  await app.register(psiConsole, {
    prefix: '/psi',
    operations: coordinator.operations,
    localOnly: true,
    title: 'PSI console · procurement',
  });
  await app.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  const address = app.server.address();
  const consoleUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/psi/`;
  print(`console: ${consoleUrl} (local-only)`);

  const parkedFor = async (instanceId: string) =>
    until(
      async () =>
        (await coordinator.operations.parked({ instanceId })).items.length > 0 ? true : undefined,
      `the confirmation of ${instanceId} parked`,
    );

  // One order that goes through: the confirmation is parked, then delivered once printed.
  const smooth = await engine.start('procurement', PROCUREMENT_ORDER);
  await parkedFor(smooth);
  await engine.signal(smooth, MANUAL_STEP, PRINTED_SIGNAL);
  const done = await engine.whenEnded(smooth);
  print(
    `order ${String(done.variables.orderNumber)}: confirmed and booked (${String(done.variables.erpDocumentId)})`,
  );

  const jammed: JammedOrder[] = [];
  for (let i = 0; i < (options.jammed ?? 1); i++) {
    const instanceId = await engine.start('procurement', PROCUREMENT_ORDER);
    const orderNumber = String((await engine.getVariables(instanceId)).orderNumber);
    await parkedFor(instanceId);
    print(`order ${orderNumber}: confirmation parked while printing — and the printer jams`);
    const letter = await until(async () => {
      const { items } = await coordinator.operations.deadLetters({ instanceId, reason: 'expired' });
      return items[0];
    }, `the confirmation of ${orderNumber} expired`);
    print(
      `order ${orderNumber}: the confirmation expired after ${options.parkingTtlMs ?? 1_000} ms: dead letter ${letter.id}`,
    );
    await engine.signal(instanceId, MANUAL_STEP, PRINTED_SIGNAL);
    print(`order ${orderNumber}: printer fixed; the order waits at "await-confirmation"`);
    jammed.push({ instanceId, orderNumber, deadLetterId: letter.id });
  }

  return {
    consoleUrl,
    app,
    coordinator,
    engine,
    jammed,
    whenEnded: (instanceId) => engine.whenEnded(instanceId),
    async close() {
      await app.close();
      await coordinator.close();
      await engine.stop();
      await store.close();
    },
  };
}
