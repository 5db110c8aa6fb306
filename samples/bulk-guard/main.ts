import 'reflect-metadata';
import { ProcessGuard, PsiStore } from '@psi/core';
import { createBulkGuardServer } from './bulk-guard.server';

/**
 * The bulk-job guard demo: a nightly import must never run twice at once. The first start is
 * accepted (202), a duplicate is refused (409, naming the holder), the status can be asked, and
 * the guard is released when the job ends — successfully or not.
 */
async function main(): Promise<void> {
  const store = await PsiStore.open({
    sqlitePath: process.env.PSI_SQLITE_PATH ?? '.psi/bulk-guard-demo.sqlite',
  });
  const guard = new ProcessGuard(store);
  const app = createBulkGuardServer(
    guard,
    async (jobId) => {
      // A stand-in for the real bulk work.
      await new Promise((resolve) => setTimeout(resolve, 300));
      if (jobId.includes('broken')) throw new Error('source file is corrupt');
    },
    { ttlMs: 60_000, owner: 'demo-node-1' },
  );
  const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
  console.log(`PSI bulk-guard demo on ${address} — store: ${store.options.sqlitePath}\n`);

  const call = async (method: 'GET' | 'POST', path: string): Promise<unknown> => {
    const response = await fetch(`${address}${path}`, { method });
    const body = (await response.json()) as unknown;
    console.log(
      `${method.padEnd(4)} ${path.padEnd(28)} → ${response.status} ${JSON.stringify(body)}`,
    );
    return body;
  };
  const untilDone = async (jobId: string): Promise<void> => {
    for (;;) {
      const status = (await (await fetch(`${address}/jobs/${jobId}`)).json()) as {
        running: boolean;
      };
      if (!status.running) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  try {
    await call('POST', '/jobs/nightly-import/start');
    await call('POST', '/jobs/nightly-import/start');
    await call('GET', '/jobs/nightly-import');
    await untilDone('nightly-import');
    await call('GET', '/jobs/nightly-import');
    await call('POST', '/jobs/broken-import/start');
    await untilDone('broken-import');
    await call('GET', '/jobs/broken-import');
    await call('POST', '/jobs/broken-import/start');
    await untilDone('broken-import');
  } finally {
    await app.close();
    await store.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
