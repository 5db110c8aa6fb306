import { InProcessTransport } from '@psi/adapters';
import {
  Coordinator,
  PsiStore,
  type DeadLetter,
  type ProcessEngine,
  type TraceEvent,
  type Variables,
} from '@psi/core';
import type { InstanceSnapshot } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
// The engine samples use these adapter classes unchanged: adapters know step ids, wait-state
// names and services, never the engine.
import { InsertIntoErpAdapter } from './adapters/insert-into-erp.adapter';
import { SendOrderAdapter } from './adapters/send-order.adapter';
import { createErp, createSupplier } from './services';
import { formatTrace } from './trace-printer';

/** The order every procurement run starts with. */
export const PROCUREMENT_ORDER: Variables = {
  customer: 'ACME Tools',
  item: 'M8 steel bolts',
  quantity: 500,
};

/** The steps (states) a procurement instance passes, in order, on every engine. */
export const PROCUREMENT_PATH: readonly string[] = [
  'create-order',
  'send-to-supplier',
  'print-and-archive',
  'await-confirmation',
  'insert-into-erp',
  'done',
];

/** The slow manual step, and the signal that ends it once the order is printed and archived. */
export const MANUAL_STEP = 'print-and-archive';
export const PRINTED_SIGNAL = {
  transition: 'printed',
  variables: { archiveRef: 'ARCH-2026-0042' },
};

/** Options of a procurement run on another engine (samples/procurement-bpmn, xstate-procurement). */
export interface ProcurementScenarioOptions {
  /** The SQLite file holding PSI's state and the engine's instance state. */
  sqlitePath: string;
  /** Every audit event, as it is committed. */
  onTrace?: (event: TraceEvent) => void;
  /** The run's own steps ("started", "manual step"), for a printed trace. */
  onStep?: (kind: string, text: string) => void;
  /** How long to wait for the supplier's confirmation to be parked. @default 10_000 */
  timeoutMs?: number;
}

/** What every procurement run on another engine saw. */
export interface ProcurementScenarioRun {
  instanceId: string;
  /** The instance as the engine persisted it when it ended. */
  final: InstanceSnapshot;
  /** PSI's audit trail of the instance (invoked, sent, parked, released, delivered, ...). */
  trail: TraceEvent[];
  deadLetters: DeadLetter[];
}

/** The engine plugins of this repository, as far as the scenario uses them. */
export interface ScenarioEngine extends ProcessEngine {
  start(definitionId: string, variables: Variables): Promise<string>;
  whenEnded(instanceId: string): Promise<InstanceSnapshot>;
  restore(): Promise<void>;
  stop(): Promise<void>;
}

/** What differs between the engines a procurement scenario runs on. */
export interface ProcurementEngineSetup<E extends ScenarioEngine, X extends object> {
  /** The engine, keeping its instances in `store`. */
  createEngine(store: PsiStore): E;
  /** Names the process in the "started" line: `instance <id> of <process>`. */
  process: string;
  /** What the sample reports about the instance while it waits at the manual step. */
  whileWaiting(engine: E, store: PsiStore, instanceId: string): Promise<X>;
}

/**
 * The procurement process on `setup`'s engine, through a PSI coordinator on `sqlitePath` with
 * the in-process supplier and ERP: the supplier's confirmation arrives while the order is still
 * at the manual step "print-and-archive", is parked, and is delivered the moment the instance
 * reaches "await-confirmation"; then the order goes into the ERP. Everything it opened is
 * closed again, so it can run again on the same file.
 */
export async function runProcurementScenario<E extends ScenarioEngine, X extends object>(
  options: ProcurementScenarioOptions,
  setup: ProcurementEngineSetup<E, X>,
): Promise<ProcurementScenarioRun & X> {
  const step = options.onStep ?? (() => undefined);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const store = await PsiStore.open({ sqlitePath: options.sqlitePath });
  const engine = setup.createEngine(store);
  let parked = false;
  // The procurement samples' program: it shows users how to wire PSI, so not @psi/testing.
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
    // The coordinator listens before restore() raises the events of instances left running.
    await coordinator.start();
    await engine.restore();

    const instanceId = await engine.start('procurement', PROCUREMENT_ORDER);
    step('started', `instance ${instanceId} of ${setup.process}`);

    // The slow manual step: printing and archiving finishes only after the confirmation is in.
    await until(
      async () => parked && (await engine.getWaitStates(instanceId)).includes(MANUAL_STEP),
      timeoutMs,
      'the supplier confirmation was not parked in time',
    );
    const whileWaiting = await setup.whileWaiting(engine, store, instanceId);
    step('manual step', 'order printed and archived');
    await engine.signal(instanceId, MANUAL_STEP, PRINTED_SIGNAL);

    const final = await engine.whenEnded(instanceId);
    await coordinator.idle();
    return {
      instanceId,
      final,
      trail: await coordinator.auditTrail(instanceId),
      deadLetters: await coordinator.deadLetters.list(),
      ...whileWaiting,
    };
  } finally {
    await coordinator.close();
    await engine.stop();
    await store.close();
  }
}

/** How a procurement sample's `main.ts` prints its run. */
export interface ProcurementScenarioDemo<R extends ProcurementScenarioRun> {
  /** The engine, for the header: `PSI procurement demo on <engine>`. */
  engine: string;
  /** The store, unless PSI_SQLITE_PATH names one. */
  defaultSqlitePath: string;
  run(options: ProcurementScenarioOptions): Promise<R>;
  /** The lines after the trace that are the sample's own (the outcome first). */
  summary(run: R): string[];
}

/**
 * A procurement sample's `main`: runs `demo` with the trace printed as it happens, then the
 * summary, the final variables and the dead letters. Exit code 1 when the instance did not
 * complete or the run failed.
 */
export function printProcurementScenario<R extends ProcurementScenarioRun>(
  demo: ProcurementScenarioDemo<R>,
): void {
  printRun(demo).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

async function printRun<R extends ProcurementScenarioRun>(
  demo: ProcurementScenarioDemo<R>,
): Promise<void> {
  const startedAt = Date.now();
  const sqlitePath = process.env.PSI_SQLITE_PATH ?? demo.defaultSqlitePath;
  const at = (): string => `+${String(Date.now() - startedAt).padStart(4)} ms`;
  console.log(`PSI procurement demo on ${demo.engine} — store: ${sqlitePath}\n`);
  const run = await demo.run({
    sqlitePath,
    onTrace: (event) => console.log(formatTrace(event, startedAt)),
    onStep: (kind, text) => console.log(`${at()}  ${kind.padEnd(13)} ${text}`),
  });
  for (const line of demo.summary(run)) console.log(line);
  console.log('Final variables:');
  for (const [name, value] of Object.entries(run.final.variables))
    console.log(`  ${name.padEnd(15)} ${JSON.stringify(value)}`);
  const ours = run.deadLetters.filter((l) => l.instanceId === run.instanceId);
  console.log(`Dead letters: ${ours.length}`);
  if (run.final.status !== 'completed') process.exitCode = 1;
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
