import 'reflect-metadata';
import { printProcurementScenario } from '../procurement/procurement-scenario';
import { runProcurementBpmn } from './run-procurement-bpmn';

/**
 * The procurement demo on a real BPMN 2.0 file (procurement.bpmn) run by bpmn-engine, with the
 * same adapter classes as the reference-engine demo: the supplier's confirmation arrives while
 * the order is still being printed and archived, is parked in the SQLite store, and is delivered
 * the moment the instance reaches the receive task "await-confirmation".
 */
printProcurementScenario({
  engine: 'bpmn-engine',
  defaultSqlitePath: '.psi/procurement-bpmn-demo.sqlite',
  run: runProcurementBpmn,
  summary: (run) => [
    `\nInstance ${run.final.status} (bpmn-engine)`,
    `Live bpmn-engine Engines while the instance waited at the manual step: ${run.liveEnginesWhileWaiting}`,
  ],
});
