// A jest reporter that turns "Jest did not exit" into a failure with a diagnosis. When the last
// test has run and the process is still alive 30 s later, something a test opened (a server, a
// socket, a timer, a child process, a database connection) was never closed: it lists what is
// still open and exits with 1, so `npm test` and CI fail in seconds instead of hanging.
// The timer is unref'd: a process that exits by itself never sees it.
const GRACE_MS = Number(process.env.PSI_TEST_EXIT_GRACE_MS ?? 30_000);

function describe(handle) {
  const kind = handle?.constructor?.name ?? typeof handle;
  try {
    switch (kind) {
      case 'Socket':
      case 'TLSSocket':
        if (handle._isStdio || handle.fd <= 2) return undefined; // the process's own stdio
        return `${kind} ${handle.localAddress ?? ''}:${handle.localPort ?? ''} -> ${handle.remoteAddress ?? ''}:${handle.remotePort ?? ''}`;
      case 'Server':
        return `Server listening on ${JSON.stringify(handle.address())}`;
      case 'ChildProcess':
        return `ChildProcess ${handle.pid} ${JSON.stringify(handle.spawnargs)}`;
      case 'Timeout':
        if (handle.hasRef && !handle.hasRef()) return undefined;
        return `Timeout every/after ${handle._idleTimeout} ms: ${String(handle._onTimeout).slice(0, 200)}`;
      default:
        return kind;
    }
  } catch (error) {
    return `${kind} (${error.message})`;
  }
}

class ExitGuardReporter {
  onRunComplete() {
    setTimeout(() => {
      const open = process._getActiveHandles().map(describe).filter(Boolean);
      process.stderr.write(
        `\nJest did not exit ${GRACE_MS / 1000} s after the last test: a test left these open:\n` +
          open.map((line) => `  - ${line}`).join('\n') +
          '\nFailing the run (exit 1).\n',
      );
      process.exit(1);
    }, GRACE_MS).unref();
  }
}

module.exports = ExitGuardReporter;
