import { XStatePlugin, type XStateTimer } from '@psi/engines/xstate';
import {
  runProcurementScenario,
  type ProcurementScenarioOptions,
  type ProcurementScenarioRun,
} from '../procurement/procurement-scenario';
import { procurementMachine } from './procurement.machine';

/** What the XState procurement run saw. */
export interface ProcurementXStateRun extends ProcurementScenarioRun {
  /** The delayed events stored with the instance while it waited at the manual step. */
  timersWhileWaiting: XStateTimer[];
}

/** The SQLite file (PSI's state and the XState snapshots), trace callbacks, timeout. */
export type ProcurementXStateOptions = ProcurementScenarioOptions;

/**
 * The procurement machine run by the XState plugin through a PSI coordinator on `sqlitePath`:
 * the supplier's confirmation arrives while the order is still at the manual step
 * "print-and-archive", is parked, and is delivered the moment the instance reaches
 * "await-confirmation"; then the order goes into the ERP.
 */
export function runProcurementXState(
  options: ProcurementXStateOptions,
): Promise<ProcurementXStateRun> {
  return runProcurementScenario(options, {
    createEngine: (store) =>
      new XStatePlugin({
        definitions: [procurementMachine],
        stateRepository: store.engineStates(),
      }),
    process: 'machine "procurement"',
    whileWaiting: async (engine, store, instanceId) => {
      const stored = await store.engineStates().load(engine.name, instanceId);
      const { timers } = JSON.parse(stored ?? '{}') as { timers?: XStateTimer[] };
      return { timersWhileWaiting: timers ?? [] };
    },
  });
}
