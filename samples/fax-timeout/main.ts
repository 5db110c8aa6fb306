import 'reflect-metadata';
import { formatTrace } from '../procurement/trace-printer';
import { runFaxScenario } from './run-fax';
import { FAX_TIMEOUT_MS } from './send-fax.adapter';

/**
 * The fax-with-timeout demo: three faxes; the first is reported sent quickly, the second never,
 * the third exactly at the deadline (report and timeout race). Each instance takes exactly one
 * branch; a report that loses the race is kept as a `late` dead letter.
 */
async function main(): Promise<void> {
  const startedAt = Date.now();
  const sqlitePath = process.env.PSI_SQLITE_PATH ?? '.psi/fax-timeout-demo.sqlite';
  console.log(`PSI fax-with-timeout demo — store: ${sqlitePath}, timeout ${FAX_TIMEOUT_MS} ms\n`);
  const run = await runFaxScenario(
    sqlitePath,
    [
      { to: '+41 44 100 00 01', reportAfterMs: 50 },
      { to: '+41 44 100 00 02' },
      { to: '+41 44 100 00 03', reportAfterMs: FAX_TIMEOUT_MS },
    ],
    (event) => console.log(formatTrace(event, startedAt)),
  );
  console.log('');
  for (const r of run.results) {
    const report = r.job.reportAfterMs === undefined ? 'never' : `after ${r.job.reportAfterMs} ms`;
    console.log(
      `${r.job.to}  report ${report.padEnd(14)} → branch "${r.branch}"${r.final.variables.transmissionId ? ` (${String(r.final.variables.transmissionId)})` : ''}`,
    );
  }
  console.log(
    `Dead letters: ${run.deadLetters.map((l) => `${l.event} (${l.reason})`).join(', ') || 'none'}`,
  );
  if (run.results.some((r) => r.final.status !== 'completed')) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
