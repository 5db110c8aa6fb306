import { BpmnEnginePlugin } from '@psi/engines';
import {
  runProcurementScenario,
  type ProcurementScenarioOptions,
  type ProcurementScenarioRun,
} from '../procurement/procurement-scenario';
import { loadProcurementBpmn } from './procurement-bpmn-source';

/** What the BPMN procurement run saw. */
export interface ProcurementBpmnRun extends ProcurementScenarioRun {
  /** Live bpmn-engine `Engine` objects while the instance waited at the manual step. */
  liveEnginesWhileWaiting: number;
}

/** The SQLite file (PSI's state and the bpmn-engine instance state), trace callbacks, timeout. */
export type ProcurementBpmnOptions = ProcurementScenarioOptions;

/**
 * The procurement process of `procurement.bpmn`, run by the bpmn-engine plugin through a PSI
 * coordinator on `sqlitePath`. The supplier's confirmation arrives while the order is still at
 * the manual step "print-and-archive", is parked, and is delivered the moment the instance
 * reaches the receive task "await-confirmation"; then the order goes into the ERP. The script
 * task "create-order" sets the order number the service task sends to the supplier.
 */
export function runProcurementBpmn(options: ProcurementBpmnOptions): Promise<ProcurementBpmnRun> {
  return runProcurementScenario(options, {
    createEngine: (store) =>
      new BpmnEnginePlugin({
        definitions: [loadProcurementBpmn()],
        stateRepository: store.engineStates(),
      }),
    process: 'procurement.bpmn',
    whileWaiting: async (engine) => ({ liveEnginesWhileWaiting: engine.liveInstances }),
  });
}
