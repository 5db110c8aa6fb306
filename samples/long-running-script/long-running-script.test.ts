import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AdaptersErrorCode } from '@psi/adapters';
import { PsiErrorCode, PsiStore } from '@psi/core';
import { runScriptJobs, type ScriptJobResult } from './run-script-jobs';

// Jobs reporting after 800 ms are in time: SCRIPT_TIMEOUT_MS is 4 s.
jest.setTimeout(60_000);

describe('sample: long-running external script', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-long-running-script-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('accepts a report in time (200, and 200 `repeated` when sent again), stops a runaway at the timeout and refuses its late report (409), refuses an expired token (410)', async () => {
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

    // In time: signalled with the script's transition and variables. The same report sent again
    // (a script retrying) is recognised by its signal id: 200 `repeated`, nothing changes.
    expect(by.quick!.branch).toBe('script-succeeded');
    expect(by.quick!.reports).toEqual([expect.objectContaining({ event: 'done', status: 200 })]);
    expect(by.quick!.final.variables).toMatchObject({ rowsProcessed: 1200 });
    expect(by.quick!.exit).toEqual({ code: 0, signal: null });
    expect(by.quick!.replay).toMatchObject({
      status: 200,
      body: { signalled: true, transition: 'done', repeated: true },
    });
    // A `done` after the timeout's `failed` path is a new signal, refused where the job is now.
    expect(by.runaway!.replay).toMatchObject({
      status: 409,
      body: { code: PsiErrorCode.EngineSignalRejected, currentStates: [] },
    });

    // Runaway: the timeout moved the instance on and stopped the script, whose report is refused.
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
          code: PsiErrorCode.EngineSignalRejected,
          currentStates: ['stop-script'],
        }),
      }),
    ]);
    expect(by.runaway!.final.variables).toMatchObject({ scriptWasRunning: true });
    expect(by.runaway!.final.variables).not.toHaveProperty('rowsProcessed');

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

    // The deadline is closed either way: cancelled with the finished job, claimed for the others.
    const store = await PsiStore.open({ sqlitePath });
    try {
      const rows: Array<{ instanceId: string; status: string }> = await store.dataSource.query(
        'SELECT "instanceId", status FROM psi_expectation',
      );
      const status = (name: string): string | undefined =>
        rows.find((row) => row.instanceId === by[name]!.instanceId)?.status;
      expect(status('quick')).toBe('cancelled');
      expect(status('runaway')).toBe('timed-out');
      expect(status('expired-token')).toBe('timed-out');
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
