import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AdaptersErrorCode } from '@psi/adapters';
import { PsiStore } from '@psi/core';
import { runScriptJobs, type ScriptJobResult } from './run-script-jobs';

// Jobs reporting after 800 ms are in time: SCRIPT_TIMEOUT_MS is 4 s.
jest.setTimeout(60_000);

describe('sample: long-running external script', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-long-running-script-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('delivers a report in time (200, and 200 `repeated` when sent again), stops a runaway at the timeout and refuses its late report (409), refuses an expired token (410)', async () => {
    const sqlitePath = path.join(dir, 'jobs.sqlite');

    const results = await runScriptJobs({
      sqlitePath,
      jobs: [
        { name: 'quick', runForMs: 800 },
        { name: 'runaway', runForMs: 120_000 },
        // Its token expires long before the script reports; the timeout then ends the job.
        { name: 'expired-token', runForMs: 800, tokenTtlMs: 100 },
      ],
      replayCallbacks: true,
    });
    const by = Object.fromEntries(results.map((r) => [r.job.name, r])) as Record<
      string,
      ScriptJobResult
    >;

    // In time: delivered to the `done` handler, which writes what it declares (rowsProcessed,
    // not the report's tookMs) and names the transition. The same report sent again (a script
    // retrying) is recognised by its message id: 200 `repeated`, nothing changes.
    expect(by.quick!.branch).toBe('script-succeeded');
    expect(by.quick!.reports).toEqual([expect.objectContaining({ event: 'done', status: 200 })]);
    expect(by.quick!.final.variables).toMatchObject({ rowsProcessed: 1200 });
    expect(by.quick!.final.variables).not.toHaveProperty('tookMs');
    expect(by.quick!.exit).toEqual({ code: 0, signal: null });
    expect(by.quick!.replay).toMatchObject({
      status: 200,
      body: { outcome: { status: 'duplicate' }, repeated: true },
    });

    // Runaway: the timeout moved the instance on and stopped the script, whose report is refused
    // (that visit of the wait state is over) and kept as a dead letter.
    expect(by.runaway!.branch).toBe('script-timed-out');
    expect(by.runaway!.final.history).toEqual([
      'start-script',
      'script-running',
      'stop-script',
      'script-timed-out',
    ]);
    expect(by.runaway!.reports).toEqual([
      expect.objectContaining({
        event: 'failed',
        status: 409,
        body: expect.objectContaining({
          code: AdaptersErrorCode.CallbackLate,
          deadLetterId: expect.any(String),
        }),
      }),
    ]);
    expect(by.runaway!.replay).toBeUndefined();
    expect(by.runaway!.final.variables).toMatchObject({ scriptWasRunning: true });
    expect(by.runaway!.final.variables).not.toHaveProperty('rowsProcessed');
    expect(by.runaway!.final.variables).not.toHaveProperty('failureReason');

    // Expired token: 410 and nothing changed, until the timeout ended the job.
    expect(by['expired-token']!.reports).toEqual([
      expect.objectContaining({
        event: 'done',
        status: 410,
        body: expect.objectContaining({ code: AdaptersErrorCode.CallbackTokenExpired }),
      }),
    ]);
    expect(by['expired-token']!.branch).toBe('script-timed-out');
    expect(by['expired-token']!.final.variables).toMatchObject({ scriptWasRunning: false });
    expect(by['expired-token']!.final.variables).not.toHaveProperty('rowsProcessed');

    // Each job's two expectations (done, failed: one group) are closed: delivered or timed out,
    // the other superseded; the runaway's late report is a dead letter.
    const store = await PsiStore.open({ sqlitePath });
    try {
      const rows: Array<{ instanceId: string; event: string; status: string }> =
        await store.dataSource.query('SELECT "instanceId", event, status FROM psi_expectation');
      const status = (name: string, event: string): string | undefined =>
        rows.find((row) => row.instanceId === by[name]!.instanceId && row.event === event)?.status;
      expect(status('quick', 'done')).toBe('delivered');
      expect(status('quick', 'failed')).toBe('superseded');
      expect(status('runaway', 'done')).toBe('timed-out');
      expect(status('runaway', 'failed')).toBe('superseded');
      expect(status('expired-token', 'done')).toBe('timed-out');
      const letters: Array<{ instanceId: string; reason: string }> = await store.dataSource.query(
        'SELECT "instanceId", reason FROM psi_dead_letter',
      );
      expect(letters).toEqual([{ instanceId: by.runaway!.instanceId, reason: 'superseded' }]);
    } finally {
      await store.close();
    }
  });

  it('never stores a callback token: engine state, outbox and audit hold a placeholder', async () => {
    const sqlitePath = path.join(dir, 'no-tokens.sqlite');

    const [result] = await runScriptJobs({
      sqlitePath,
      jobs: [{ name: 'quick', runForMs: 200 }],
    });

    const token = result!.callbackUrl.split('/callbacks/')[1]!;
    const signature = token.split('.')[2]!;
    expect(signature).toMatch(/^[\w-]{43}$/);
    expect(result!.final.variables).not.toHaveProperty('callbackUrl');
    // Every byte of the store (the WAL too, when one is left), not just the tables we know of.
    const files = [sqlitePath, `${sqlitePath}-wal`].filter((file) => fs.existsSync(file));
    for (const file of files) {
      const bytes = fs.readFileSync(file);
      expect(bytes.includes(signature)).toBe(false);
      expect(bytes.includes('/callbacks/')).toBe(false);
    }
    // What was stored instead: the placeholder the adapter sent.
    const store = await PsiStore.open({ sqlitePath });
    try {
      const [outbox] = (await store.dataSource.query(
        "SELECT payload FROM psi_outbox WHERE operation = 'start'",
      )) as Array<{ payload: string }>;
      expect(JSON.parse(outbox!.payload)).toMatchObject({
        callbackUrl: expect.stringMatching(/^psi-callback-url:/),
      });
    } finally {
      await store.close();
    }
  });

  it('runs again on the same store', async () => {
    const sqlitePath = path.join(dir, 'again.sqlite');
    for (let run = 0; run < 2; run++) {
      const [result] = await runScriptJobs({
        sqlitePath,
        jobs: [{ name: 'quick', runForMs: 800 }],
      });
      expect(result!.branch).toBe('script-succeeded');
    }
  });
});
