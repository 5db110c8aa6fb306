import {
  Coordinator,
  PsiStore,
  type DeadLetter,
  type ObservabilityOptions,
  type TraceEvent,
} from '@psi/core';
import { ReferenceEngine, type InstanceSnapshot } from '@psi/engines';
import { InsertIntoErpAdapter } from './adapters/insert-into-erp.adapter';
import { SendOrderAdapter } from './adapters/send-order.adapter';
import type { DemoTransport } from './demo-options';
import { createDemoWiring, type DemoKafkaOptions } from './demo-wiring';
import { procurementProcess } from './procurement.process';
import { MANUAL_STEP, PRINTED_SIGNAL, PROCUREMENT_ORDER } from './procurement-scenario';
import { formatTrace } from './trace-printer';

export interface ProcurementRunOptions {
  /** SQLite file of the store; kept between runs. */
  sqlitePath: string;
  /** @default 'in-process' */
  transport?: DemoTransport;
  /** Required for `transport: 'kafka'`. */
  kafka?: DemoKafkaOptions;
  /** Receives each line of the narrative, trace included. @default prints nothing */
  print?: (line: string) => void;
  /** OpenTelemetry providers for the coordinator (`--trace`). @default the global ones */
  observability?: ObservabilityOptions;
}

/** What one run of the demo did. */
export interface ProcurementRun {
  instanceId: string;
  final: InstanceSnapshot;
  /** Everything PSI traced during the run (the one instance, and answers before they matched it). */
  trace: TraceEvent[];
  /** Dead letters of this instance (none when all went well). */
  deadLetters: DeadLetter[];
  /** Where the supplier and the ERP were. */
  wiring: string;
}

/**
 * The procurement demo, as a function: opens the store, wires the transport, starts one order and
 * plays the slow manual step — "printed and archived" is signalled only once the supplier's
 * confirmation is parked, so it always arrives before the instance waits for it. Resolves when
 * the instance ended; everything it opened is closed again, so it can run again on the same file.
 */
export async function runProcurement(options: ProcurementRunOptions): Promise<ProcurementRun> {
  const print = options.print ?? (() => undefined);
  const startedAt = Date.now();
  const at = (): string => `+${String(Date.now() - startedAt).padStart(4)} ms`;
  const wiring = await createDemoWiring(options.transport ?? 'in-process', options.kafka);
  const trace: TraceEvent[] = [];
  const parked = deferred<void>();
  const atManualStep = deferred<void>();
  let store: PsiStore | undefined;
  let engine: ReferenceEngine | undefined;
  let coordinator: Coordinator | undefined;
  try {
    store = await PsiStore.open({ sqlitePath: options.sqlitePath });
    engine = new ReferenceEngine({
      definitions: [procurementProcess],
      stateRepository: store.engineStates(),
    });
    engine.subscribe((event) => {
      if (event.type === 'wait-state-entered' && event.waitState === MANUAL_STEP) {
        atManualStep.resolve();
      }
    });
    // A sample program: it shows users how to wire PSI, so it does not use @psi/testing.
    coordinator = await Coordinator.create({
      store,
      engine,
      registry: wiring.registry,
      transports: wiring.transports,
      adapters: [SendOrderAdapter, InsertIntoErpAdapter],
      observability: options.observability,
      onTrace: (event: TraceEvent) => {
        trace.push(event);
        print(formatTrace(event, startedAt));
        if (event.kind === 'parked') parked.resolve();
      },
    });
    // Kafka consumers join their groups meanwhile (a few seconds on a fresh group).
    await Promise.all([wiring.start(), coordinator.start()]);

    print(`PSI procurement demo — store: ${options.sqlitePath}`);
    print(`transport: ${options.transport ?? 'in-process'} — ${wiring.description}\n`);
    const instanceId = await engine.start('procurement', PROCUREMENT_ORDER);
    print(`${at()}  started       instance ${instanceId}`);

    // The slow manual step: printing and archiving finishes only after the confirmation is in
    // (a fast supplier's may be parked before the order even reached the step).
    await Promise.all([parked.promise, atManualStep.promise]);
    print(`${at()}  manual step   order printed and archived`);
    await engine.signal(instanceId, MANUAL_STEP, PRINTED_SIGNAL);

    const final = await engine.whenEnded(instanceId);
    await coordinator.idle();
    const deadLetters = (await coordinator.deadLetters.list()).filter(
      (letter) => letter.instanceId === instanceId,
    );
    return {
      instanceId,
      final,
      trace,
      deadLetters,
      wiring: wiring.description,
    };
  } finally {
    await coordinator?.close();
    await engine?.stop();
    await store?.close();
    await wiring.close();
  }
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
