import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Coordinator, PsiStore, type TraceEvent } from '@psi/core';
import { InProcessTransport, type InProcessService } from '@psi/adapters';
import { ReferenceEngine } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import { InsertIntoErpAdapter } from '../../samples/procurement/adapters/insert-into-erp.adapter';
import { SendOrderAdapter } from '../../samples/procurement/adapters/send-order.adapter';
import { procurementProcess } from '../../samples/procurement/procurement.process';
import { createErp } from '../../samples/procurement/services';

/** The procurement sample wired to a real SQLite file, with a supplier the test controls. */
export interface ProcurementWorld {
  store: PsiStore;
  engine: ReferenceEngine;
  coordinator: Coordinator;
  traces: TraceEvent[];
  /** Correlation keys of the orders the supplier received, by order number. */
  orders: Map<string, string>;
  close(): Promise<void>;
}

export function tempSqlitePath(): { file: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-test-'));
  return {
    file: path.join(dir, 'psi.sqlite'),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export async function openProcurementWorld(file: string): Promise<ProcurementWorld> {
  const store = await PsiStore.open({ sqlitePath: file });
  const engine = new ReferenceEngine({
    definitions: [procurementProcess],
    stateRepository: store.engineStates(),
  });
  const orders = new Map<string, string>();
  // A supplier that takes orders and never answers by itself: tests answer through receive().
  const supplier: InProcessService = {
    placeOrder: (payload, context) => {
      orders.set((payload as { orderNumber: string }).orderNumber, context.correlationKey);
      return undefined;
    },
  };
  const traces: TraceEvent[] = [];
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({
      supplier: { transport: 'in-process', address: 'supplier' },
      erp: { transport: 'in-process', address: 'erp' },
    }),
    transports: [
      new InProcessTransport().register('supplier', supplier).register('erp', createErp()),
    ],
    adapters: [SendOrderAdapter, InsertIntoErpAdapter],
    onTrace: (event) => traces.push(event),
    logger: { warn: () => undefined, error: (m, d) => console.error(m, d) },
  });
  await engine.restore();
  await coordinator.start();
  return {
    store,
    engine,
    coordinator,
    traces,
    orders,
    close: async () => {
      await coordinator.close();
      await engine.stop();
      await store.close();
    },
  };
}

/** Polls `check` until it returns a value, failing after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export const confirmation = (orderNumber: string) => ({
  orderNumber,
  confirmationId: 'CONF-1',
  deliveryDate: '2026-12-01T00:00:00.000Z',
});
