import { InProcessTransport } from '@psi/adapters';
import { Coordinator, PsiStore, type DeadLetter, type TraceEvent } from '@psi/core';
import { BpmnEnginePlugin, type InstanceSnapshot } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
// The very adapter classes of the reference-engine sample, unchanged: adapters know step ids,
// wait-state names and services, never the engine.
import { InsertIntoErpAdapter } from '../procurement/adapters/insert-into-erp.adapter';
import { SendOrderAdapter } from '../procurement/adapters/send-order.adapter';
import { createErp, createSupplier } from '../procurement/services';
import { loadProcurementBpmn } from './procurement-bpmn-source';

/** What the BPMN procurement run saw. */
export interface ProcurementBpmnRun {
  instanceId: string;
  /** The instance as the bpmn-engine plugin persisted it when it ended. */
  final: InstanceSnapshot;
  /** PSI's audit trail of the instance (invoked, sent, parked, released, delivered, ...). */
  trail: TraceEvent[];
  deadLetters: DeadLetter[];
  /** Live bpmn-engine `Engine` objects while the instance waited at the manual step. */
  liveEnginesWhileWaiting: number;
}

export interface ProcurementBpmnOptions {
  /** The SQLite file holding PSI's state and the bpmn-engine instance state. */
  sqlitePath: string;
  /** Every audit event, as it is committed. */
  onTrace?: (event: TraceEvent) => void;
  /** The run's own steps ("started", "manual step"), for a printed trace. */
  onStep?: (kind: string, text: string) => void;
  /** How long to wait for the supplier's confirmation to be parked. @default 10_000 */
  timeoutMs?: number;
}

/**
 * The procurement process of `procurement.bpmn`, run by the bpmn-engine plugin through a PSI
 * coordinator on `sqlitePath`. The supplier's confirmation arrives while the order is still at
 * the manual step "print-and-archive", is parked, and is delivered the moment the instance
 * reaches the receive task "await-confirmation"; then the order goes into the ERP.
 */
export async function runProcurementBpmn(
  options: ProcurementBpmnOptions,
): Promise<ProcurementBpmnRun> {
  const step = options.onStep ?? (() => undefined);
  const store = await PsiStore.open({ sqlitePath: options.sqlitePath });
  const engine = new BpmnEnginePlugin({
    definitions: [loadProcurementBpmn()],
    stateRepository: store.engineStates(),
  });
  const parked = deadlineSignal(
    options.timeoutMs ?? 10_000,
    'the supplier confirmation was not parked in time',
  );
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({
      supplier: { transport: 'in-process', address: 'supplier', parkingTtlMs: 3_600_000 },
      erp: { transport: 'in-process', address: 'erp' },
    }),
    transports: [
      new InProcessTransport().register('supplier', createSupplier()).register('erp', createErp()),
    ],
    adapters: [SendOrderAdapter, InsertIntoErpAdapter],
    onTrace: (event) => {
      options.onTrace?.(event);
      if (event.kind === 'parked') parked.resolve();
    },
  });
  try {
    await engine.restore();
    await coordinator.start();

    // create-order (a BPMN script task) sets orderNumber; the service task then calls the supplier.
    const instanceId = await engine.start('procurement', {
      customer: 'ACME Tools',
      item: 'M8 steel bolts',
      quantity: 500,
    });
    step('started', `instance ${instanceId} of procurement.bpmn`);

    // The slow manual step: printing and archiving finishes only after the confirmation is in.
    await parked.promise;
    await until(
      async () => (await engine.getWaitStates(instanceId)).includes('print-and-archive'),
      options.timeoutMs ?? 10_000,
    );
    const liveEnginesWhileWaiting = engine.liveInstances;
    step('manual step', 'order printed and archived');
    await engine.signal(instanceId, 'print-and-archive', {
      transition: 'printed',
      variables: { archiveRef: 'ARCH-2026-0042' },
    });

    const final = await engine.whenEnded(instanceId);
    await coordinator.idle();
    return {
      instanceId,
      final,
      trail: await coordinator.auditTrail(instanceId),
      deadLetters: await coordinator.deadLetters.list(),
      liveEnginesWhileWaiting,
    };
  } finally {
    parked.cancel();
    await coordinator.close();
    await engine.stop();
    await store.close();
  }
}

/** Polls `condition` (yielding to I/O between polls) until it holds, failing after `timeoutMs`. */
async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A promise resolved by `resolve()`, rejected after `timeoutMs` unless resolved or cancelled. */
function deadlineSignal(
  timeoutMs: number,
  message: string,
): { promise: Promise<void>; resolve: () => void; cancel: () => void } {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const timer = setTimeout(() => reject(new Error(message)), timeoutMs);
  const cancel = (): void => clearTimeout(timer);
  promise.then(cancel, () => undefined);
  return {
    promise,
    resolve: () => {
      cancel();
      resolve();
    },
    cancel,
  };
}
