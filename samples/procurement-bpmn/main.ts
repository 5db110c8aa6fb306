import 'reflect-metadata';
import { formatTrace } from '../procurement/trace-printer';
import { runProcurementBpmn } from './run-procurement-bpmn';

/**
 * The procurement demo on a real BPMN 2.0 file (procurement.bpmn) run by bpmn-engine, with the
 * same adapter classes as the reference-engine demo: the supplier's confirmation arrives while
 * the order is still being printed and archived, is parked in the SQLite store, and is delivered
 * the moment the instance reaches the receive task "await-confirmation".
 */
async function main(): Promise<void> {
  const startedAt = Date.now();
  const sqlitePath = process.env.PSI_SQLITE_PATH ?? '.psi/procurement-bpmn-demo.sqlite';
  const at = (): string => `+${String(Date.now() - startedAt).padStart(4)} ms`;
  console.log(`PSI procurement demo on bpmn-engine — store: ${sqlitePath}\n`);
  const run = await runProcurementBpmn({
    sqlitePath,
    onTrace: (event) => console.log(formatTrace(event, startedAt)),
    onStep: (kind, text) => console.log(`${at()}  ${kind.padEnd(13)} ${text}`),
  });
  console.log(`\nInstance ${run.final.status} (bpmn-engine)`);
  console.log(
    `Live bpmn-engine Engines while the instance waited at the manual step: ${run.liveEnginesWhileWaiting}`,
  );
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
