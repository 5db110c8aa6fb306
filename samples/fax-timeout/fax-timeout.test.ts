import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PsiStore } from '@psi/core';
import { runFaxScenario } from './run-fax';
import { FAX_TIMEOUT_MS } from './send-fax.adapter';

describe('sample: fax with timeout', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-fax-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('takes exactly one branch per fax: "sent" when reported in time, "timeout" otherwise; a losing report is late', async () => {
    const sqlitePath = path.join(dir, 'fax.sqlite');
    const run = await runFaxScenario(sqlitePath, [
      { to: 'quick', reportAfterMs: 10 },
      { to: 'silent' },
      { to: 'racing', reportAfterMs: FAX_TIMEOUT_MS },
      { to: 'too-late', reportAfterMs: FAX_TIMEOUT_MS + 300 },
    ]);
    const by = Object.fromEntries(run.results.map((r) => [r.job.to, r]));

    expect(by.quick.branch).toBe('fax-delivered');
    expect(by.quick.final.variables).toMatchObject({
      pages: 2,
      transmissionId: expect.any(String),
    });
    expect(by.silent.branch).toBe('send-by-email');
    expect(by['too-late'].branch).toBe('send-by-email');
    expect(['fax-delivered', 'send-by-email']).toContain(by.racing.branch);
    for (const r of run.results) {
      expect(r.final.status).toBe('completed');
      // Exactly one branch ran.
      expect(
        r.final.history.filter((s) => s === 'fax-delivered' || s === 'send-by-email'),
      ).toHaveLength(1);
    }

    // Every report that lost against the timeout is a late dead letter of its instance.
    const losers = run.results.filter(
      (r) => r.job.reportAfterMs !== undefined && r.branch === 'send-by-email',
    );
    expect(run.deadLetters.map((l) => [l.instanceId, l.reason]).sort()).toEqual(
      losers.map((r) => [r.instanceId, 'late']).sort(),
    );

    const store = await PsiStore.open({ sqlitePath });
    try {
      const rows: Array<{ instanceId: string; status: string }> = await store.dataSource.query(
        'SELECT "instanceId", status FROM psi_expectation',
      );
      for (const r of run.results) {
        const status = rows.find((row) => row.instanceId === r.instanceId)?.status;
        expect(status).toBe(r.branch === 'fax-delivered' ? 'delivered' : 'timed-out');
      }
    } finally {
      await store.close();
    }
  });
});
