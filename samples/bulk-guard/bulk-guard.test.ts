import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ProcessGuard, PsiStore } from '@psi/core';
import { createBulkGuardServer } from './bulk-guard.server';

/** A job the test finishes by hand. */
function controllableJobs(): {
  runner: (jobId: string) => Promise<void>;
  finish(jobId: string, error?: Error): void;
  started: string[];
} {
  const pending = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  const started: string[] = [];
  return {
    started,
    runner: (jobId) =>
      new Promise<void>((resolve, reject) => {
        started.push(jobId);
        pending.set(jobId, { resolve, reject });
      }),
    finish(jobId, error) {
      const job = pending.get(jobId);
      if (!job) throw new Error(`job ${jobId} is not running`);
      pending.delete(jobId);
      if (error) job.reject(error);
      else job.resolve();
    },
  };
}

interface Client {
  post(url: string): Promise<{ statusCode: number; json<T = Record<string, unknown>>(): T }>;
  get(url: string): Promise<{ statusCode: number; json<T = Record<string, unknown>>(): T }>;
}

/** Listens on 127.0.0.1 (a free port) and talks to the server over real HTTP. */
async function serve(app: ReturnType<typeof createBulkGuardServer>): Promise<Client> {
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const call = async (method: string, url: string) => {
    const response = await fetch(`${address}${url}`, { method });
    const body = (await response.json()) as unknown;
    return { statusCode: response.status, json: <T>() => body as T };
  };
  return { post: (url) => call('POST', url), get: (url) => call('GET', url) };
}

async function until<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  what: string,
): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('sample: bulk-job guard over HTTP', () => {
  let dir: string;
  let stores: PsiStore[];
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-bulk-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    stores = [];
  });
  afterEach(async () => {
    for (const store of stores) await store.close();
  });
  async function openGuard(file: string): Promise<ProcessGuard> {
    const store = await PsiStore.open({ sqlitePath: path.join(dir, file) });
    stores.push(store);
    return new ProcessGuard(store);
  }

  it('answers 202 for the first start, 409 with the holder for a duplicate, and releases the guard on success', async () => {
    const jobs = controllableJobs();
    const app = createBulkGuardServer(await openGuard('a.sqlite'), jobs.runner, {
      owner: 'node-1',
      ttlMs: 60_000,
    });
    const appClient = await serve(app);
    try {
      const first = await appClient.post('/jobs/import-1/start');
      expect(first.statusCode).toBe(202);
      expect(first.json()).toMatchObject({
        jobId: 'import-1',
        status: 'started',
        statusUrl: '/jobs/import-1',
      });
      expect(first.json()).not.toHaveProperty('ownerToken');

      const duplicate = await appClient.post('/jobs/import-1/start');
      expect(duplicate.statusCode).toBe(409);
      expect(duplicate.json()).toEqual({
        error: 'already running',
        jobId: 'import-1',
        heldBy: 'node-1',
        since: first.json<{ startedAt: string }>().startedAt,
        expiresAt: first.json<{ expiresAt: string }>().expiresAt,
      });
      expect(jobs.started).toEqual(['import-1']);

      const running = await appClient.get('/jobs/import-1');
      expect(running.json()).toMatchObject({ jobId: 'import-1', running: true, heldBy: 'node-1' });
      // Another id is independent.
      expect((await appClient.post('/jobs/import-2/start')).statusCode).toBe(202);

      jobs.finish('import-1');
      const done = await until(
        async () => (await appClient.get('/jobs/import-1')).json<{ running: boolean }>(),
        (s) => !s.running,
        'import-1 is released',
      );
      expect(done).toMatchObject({
        jobId: 'import-1',
        running: false,
        lastRun: { outcome: 'succeeded' },
      });
      // Free again: a new start is accepted.
      expect((await appClient.post('/jobs/import-1/start')).statusCode).toBe(202);
      jobs.finish('import-1');
      jobs.finish('import-2');
    } finally {
      await app.close();
    }
  });

  it('releases the guard when the job fails, and reports the failure', async () => {
    const jobs = controllableJobs();
    const app = createBulkGuardServer(await openGuard('b.sqlite'), jobs.runner);
    const appClient = await serve(app);
    try {
      expect((await appClient.post('/jobs/broken/start')).statusCode).toBe(202);
      jobs.finish('broken', new Error('source file is corrupt'));
      const status = await until(
        async () => (await appClient.get('/jobs/broken')).json<{ running: boolean }>(),
        (s) => !s.running,
        'broken is released',
      );
      expect(status).toMatchObject({
        running: false,
        lastRun: { outcome: 'failed', error: 'source file is corrupt' },
      });
      expect((await appClient.post('/jobs/broken/start')).statusCode).toBe(202);
      jobs.finish('broken');
    } finally {
      await app.close();
    }
  });

  it('refuses a duplicate started through another server on the same database (two nodes)', async () => {
    const jobs = controllableJobs();
    const nodeA = createBulkGuardServer(await openGuard('shared.sqlite'), jobs.runner, {
      owner: 'node-a',
    });
    const nodeB = createBulkGuardServer(await openGuard('shared.sqlite'), jobs.runner, {
      owner: 'node-b',
    });
    const [nodeAClient, nodeBClient] = [await serve(nodeA), await serve(nodeB)];
    try {
      const answers = await Promise.all([
        nodeAClient.post('/jobs/shared/start'),
        nodeBClient.post('/jobs/shared/start'),
      ]);
      expect(answers.map((a) => a.statusCode).sort()).toEqual([202, 409]);
      const winner = answers[0].statusCode === 202 ? 'node-a' : 'node-b';
      expect(answers.find((a) => a.statusCode === 409)!.json()).toMatchObject({ heldBy: winner });
      expect(jobs.started).toEqual(['shared']);
      expect((await nodeBClient.get('/jobs/shared')).json()).toMatchObject({
        running: true,
        heldBy: winner,
      });
      jobs.finish('shared');
      await until(
        async () => (await nodeAClient.get('/jobs/shared')).json<{ running: boolean }>(),
        (s) => !s.running,
        'shared is released',
      );
    } finally {
      await nodeA.close();
      await nodeB.close();
    }
  });

  it('serves real HTTP on 127.0.0.1', async () => {
    const jobs = controllableJobs();
    const app = createBulkGuardServer(await openGuard('c.sqlite'), jobs.runner);
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      expect((await fetch(`${address}/jobs/x/start`, { method: 'POST' })).status).toBe(202);
      const duplicate = await fetch(`${address}/jobs/x/start`, { method: 'POST' });
      expect(duplicate.status).toBe(409);
      expect(await duplicate.json()).toMatchObject({ error: 'already running' });
      jobs.finish('x');
      await until(
        async () => (await (await fetch(`${address}/jobs/x`)).json()) as { running: boolean },
        (s) => !s.running,
        'x is released',
      );
    } finally {
      await app.close();
    }
  });
});
