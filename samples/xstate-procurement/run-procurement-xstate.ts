import { InProcessTransport } from '@psi/adapters';
import { Coordinator, PsiStore, type DeadLetter, type TraceEvent } from '@psi/core';
import { XStatePlugin, type InstanceSnapshot, type XStateTimer } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
// The very adapter classes of the reference-engine sample, unchanged: adapters know step ids,
// wait-state names and services, never the engine.
import { InsertIntoErpAdapter } from '../procurement/adapters/insert-into-erp.adapter';
import { SendOrderAdapter } from '../procurement/adapters/send-order.adapter';
import { createErp, createSupplier } from '../procurement/services';
import { procurementMachine } from './procurement.machine';

/** What the XState procurement run saw. */
export interface ProcurementXStateRun {
  instanceId: string;
  /** The instance as the XState plugin persisted it when it ended. */
  final: InstanceSnapshot;
  /** PSI's audit trail of the instance (invoked, sent, parked, released, delivered, ...). */
  trail: TraceEvent[];
  deadLetters: DeadLetter[];
  /** The delayed events stored with the instance while it waited at the manual step. */
  timersWhileWaiting: XStateTimer[];
}

export interface ProcurementXStateOptions {
  /** The SQLite file holding PSI's state and the XState snapshots. */
  sqlitePath: string;
  /** Every audit event, as it is committed. */
  onTrace?: (event: TraceEvent) => void;
  /** The run's own steps ("started", "manual step"), for a printed trace. */
  onStep?: (kind: string, text: string) => void;
  /** How long to wait for the supplier's confirmation to be parked. @default 10_000 */
  timeoutMs?: number;
}

/**
 * The procurement machine run by the XState plugin through a PSI coordinator on `sqlitePath`:
 * the supplier's confirmation arrives while the order is still at the manual step
 * "print-and-archive", is parked, and is delivered the moment the instance reaches
 * "await-confirmation"; then the order goes into the ERP.
 */
export async function runProcurementXState(
  options: ProcurementXStateOptions,
): Promise<ProcurementXStateRun> {
  const step = options.onStep ?? (() => undefined);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const store = await PsiStore.open({ sqlitePath: options.sqlitePath });
  const engine = new XStatePlugin({
    definitions: [procurementMachine],
    stateRepository: store.engineStates(),
  });
  let parked = false;
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
      if (event.kind === 'parked') parked = true;
    },
  });
  try {
    await coordinator.start();
    await engine.restore();

    const instanceId = await engine.start('procurement', {
      customer: 'ACME Tools',
      item: 'M8 steel bolts',
      quantity: 500,
    });
    step('started', `instance ${instanceId} of machine "procurement"`);

    // The slow manual step: printing and archiving finishes only after the confirmation is in.
    await until(
      async () => parked && (await engine.getWaitStates(instanceId)).includes('print-and-archive'),
      timeoutMs,
      'the supplier confirmation was not parked in time',
    );
    const stored = await store.engineStates().load(engine.name, instanceId);
    const timersWhileWaiting = (JSON.parse(stored ?? '{}') as { timers?: XStateTimer[] }).timers;
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
      timersWhileWaiting: timersWhileWaiting ?? [],
    };
  } finally {
    await coordinator.close();
    await engine.stop();
    await store.close();
  }
}

/** Polls `condition` every 10 ms until it holds, failing with `message` after `timeoutMs`. */
async function until(
  condition: () => Promise<boolean>,
  timeoutMs: number,
  message: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
