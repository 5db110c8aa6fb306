import 'reflect-metadata';
import { formatTrace } from '../procurement/trace-printer';
import { runScriptJobs } from './run-script-jobs';
import { SCRIPT_TIMEOUT_MS } from './script-job.adapters';

/**
 * The long-running external script demo: two jobs, each a real child process that reports to
 * PSI's inbound server with its callback token. "nightly-export" finishes in time and its report
 * is delivered (200; the same report sent again is recognised: 200 `repeated`);
 * "runaway-reindex" would take a minute, so PSI's timeout takes `timed-out` and stops it, and
 * its parting report is refused (409 PSI_CALLBACK_LATE: that visit of the wait state is over).
 */
async function main(): Promise<void> {
  const startedAt = Date.now();
  const at = (): string => `+${String(Date.now() - startedAt).padStart(4)} ms`;
  const sqlitePath = process.env.PSI_SQLITE_PATH ?? '.psi/long-running-script-demo.sqlite';
  console.log(
    `PSI long-running script demo — store: ${sqlitePath}, script timeout ${SCRIPT_TIMEOUT_MS} ms\n`,
  );
  const results = await runScriptJobs({
    sqlitePath,
    jobs: [
      { name: 'nightly-export', runForMs: 1_000 },
      { name: 'runaway-reindex', runForMs: 60_000 },
    ],
    replayCallbacks: true,
    // What PSI stores and traces holds a placeholder where the callback URL goes (the token is
    // minted as the request leaves): show it short.
    onTrace: (event) =>
      console.log(
        formatTrace(event, startedAt).replace(/psi-callback-url:[\w-]+/g, '<callback url>'),
      ),
    onReport: (run, report) =>
      console.log(
        `${at()}  script report ${run.job} (pid ${run.pid}) "${report.event}" → ` +
          (report.status === undefined
            ? `not delivered: ${report.error ?? JSON.stringify(report.body)}`
            : `HTTP ${report.status} ${summary(report.body)}`),
      ),
  });
  console.log('');
  for (const r of results) {
    const reports = r.reports.map((p) => `"${p.event}" → ${p.status ?? 'error'}`).join(', ');
    console.log(
      `${r.job.name.padEnd(16)} → ${r.branch.padEnd(17)} script ${reports || 'never reported'}; ` +
        `replayed callback → ${r.replay?.status ?? '—'}${repeated(r.replay?.body) ? ' (repeated)' : ''}`,
    );
  }
  if (results.some((r) => r.final.status !== 'completed')) process.exitCode = 1;
}

/** An error body by its code (and the dead letter that kept the report); anything else as JSON. */
function summary(body: unknown): string {
  if (typeof body !== 'object' || body === null || !('code' in body)) return JSON.stringify(body);
  const { code, deadLetterId } = body as { code: unknown; deadLetterId?: unknown };
  return `${String(code)}${deadLetterId ? ` (kept as dead letter ${String(deadLetterId)})` : ''}`;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

/** True for the answer to a callback the engine had already taken. */
function repeated(body: unknown): boolean {
  return (
    typeof body === 'object' && body !== null && (body as { repeated?: unknown }).repeated === true
  );
}
