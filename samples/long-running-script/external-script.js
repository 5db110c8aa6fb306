'use strict';
// The external long-running script of samples/long-running-script: any program could take its place.
// It works for RUN_FOR_MS, then reports completion to PSI with one POST to PSI_CALLBACK_URL (a
// callback URL carrying a signed token); stopped early (SIGTERM, e.g. when PSI's timeout caught it),
// it reports that it failed. Each report carries the message id `<PSI_REPORT_ID>:<event>`, so a
// retry of it is recognised. Each report's outcome goes to stdout as one JSON line:
// {"event":"done","data":{...},"messageId":"...","status":200,"body":{...}}.
// Usage: PSI_CALLBACK_URL=http://127.0.0.1:4711/callbacks/<token> RUN_FOR_MS=1000 node external-script.js

const callbackUrl = process.env.PSI_CALLBACK_URL;
const reportId = process.env.PSI_REPORT_ID ?? String(process.pid);
const runForMs = Number(process.env.RUN_FOR_MS ?? 1000);
if (!callbackUrl || !Number.isFinite(runForMs) || runForMs < 0) {
  console.error('usage: PSI_CALLBACK_URL=<url> RUN_FOR_MS=<ms> node external-script.js');
  process.exit(2);
}
const startedAt = Date.now();

async function report(event, data) {
  const messageId = `${reportId}:${event}`;
  const response = await fetch(callbackUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-psi-message-id': messageId },
    body: JSON.stringify({ event, data }),
    signal: AbortSignal.timeout(10000),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  process.stdout.write(
    `${JSON.stringify({ event, data, messageId, status: response.status, body })}\n`,
  );
  return response.status;
}

function finish(event, data, exitCode) {
  report(event, data).then(
    (status) => process.exit(status >= 200 && status < 300 ? exitCode : Math.max(exitCode, 3)),
    (error) => {
      process.stdout.write(`${JSON.stringify({ event, data, error: String(error) })}\n`);
      process.exit(4);
    },
  );
}

const work = setTimeout(
  () => finish('done', { rowsProcessed: 1200, tookMs: Date.now() - startedAt }, 0),
  runForMs,
);

process.once('SIGTERM', () => {
  clearTimeout(work);
  finish('failed', { reason: 'stopped by SIGTERM', tookMs: Date.now() - startedAt }, 143);
});
