import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { systemClock, type Coordinator, type PsiStore, type TraceEvent } from '@psi/core';
import type { InProcessService } from '@psi/adapters';
import { ReferenceEngine } from '@psi/engines';
import { PsiTestEnvironment } from '@psi/testing';
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

/** A `PsiTestEnvironment` on real time and a kept SQLite file (a second world reopens it). */
export async function openProcurementWorld(file: string): Promise<ProcurementWorld> {
  const orders = new Map<string, string>();
  // A supplier that takes orders and never answers by itself: tests answer through receive().
  const supplier: InProcessService = {
    placeOrder: (payload, context) => {
      orders.set((payload as { orderNumber: string }).orderNumber, context.correlationKey);
      return undefined;
    },
  };
  let engine: ReferenceEngine | undefined;
  const env = await PsiTestEnvironment.create({
    store: { path: file },
    clock: systemClock,
    engine: ({ stateRepository, onError }) =>
      (engine = new ReferenceEngine({
        definitions: [procurementProcess],
        stateRepository,
        onError,
      })),
    adapters: [SendOrderAdapter, InsertIntoErpAdapter],
    services: { supplier, erp: createErp() },
  });
  return {
    store: env.store,
    engine: engine as ReferenceEngine,
    coordinator: env.coordinator,
    traces: env.traces,
    orders,
    close: () => env.dispose(),
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
