import 'reflect-metadata';
import { printProcurementScenario } from '../procurement/procurement-scenario';
import { runProcurementXState } from './run-procurement-xstate';

/**
 * The procurement demo on an XState machine, with the same adapter classes as the reference and
 * BPMN demos: the supplier's confirmation arrives while the order is still being printed and
 * archived, is parked in the SQLite store, and is delivered the moment the machine reaches
 * "await-confirmation". No XState actor runs: every step is a pure transition over the snapshot
 * kept in the store.
 */
printProcurementScenario({
  engine: 'XState',
  defaultSqlitePath: '.psi/procurement-xstate-demo.sqlite',
  run: runProcurementXState,
  summary: (run) => [
    `\nInstance ${run.final.status} (xstate); states: ${run.final.history.join(' → ')}`,
    ...run.timersWhileWaiting.map(
      (timer) => `Stored while waiting: "${timer.id}" due ${new Date(timer.dueAt).toISOString()}`,
    ),
  ],
});
