import 'reflect-metadata';
import { formatTrace } from '../procurement/trace-printer';
import { runProcurementXState } from './run-procurement-xstate';

/**
 * The procurement demo on an XState machine, with the same adapter classes as the reference and
 * BPMN demos: the supplier's confirmation arrives while the order is still being printed and
 * archived, is parked in the SQLite store, and is delivered the moment the machine reaches
 * "await-confirmation". No XState actor runs: every step is a pure transition over the snapshot
 * kept in the store.
 */
async function main(): Promise<void> {
  const startedAt = Date.now();
  const sqlitePath = process.env.PSI_SQLITE_PATH ?? '.psi/procurement-xstate-demo.sqlite';
  const at = (): string => `+${String(Date.now() - startedAt).padStart(4)} ms`;
  console.log(`PSI procurement demo on XState — store: ${sqlitePath}\n`);
  const run = await runProcurementXState({
    sqlitePath,
    onTrace: (event) => console.log(formatTrace(event, startedAt)),
    onStep: (kind, text) => console.log(`${at()}  ${kind.padEnd(13)} ${text}`),
  });
  console.log(`\nInstance ${run.final.status} (xstate); states: ${run.final.history.join(' → ')}`);
  for (const timer of run.timersWhileWaiting) {
    console.log(`Stored while waiting: "${timer.id}" due ${new Date(timer.dueAt).toISOString()}`);
  }
  console.log('Final variables:');
  for (const [name, value] of Object.entries(run.final.variables))
    console.log(`  ${name.padEnd(15)} ${JSON.stringify(value)}`);
  const ours = run.deadLetters.filter((l) => l.instanceId === run.instanceId);
  console.log(`Dead letters: ${ours.length}`);
  if (run.final.status !== 'completed') process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
