import { execSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runSoak } from '../../bench/soak/soak-supervisor';
import { formatRecovery, formatSoakTable, violations } from '../../bench/soak/soak-table';
import { testStoreKinds, TEST_POSTGRES_URL } from '../foundation/test-stores';

// Issue 21's soak test in its bounded form (the full one: `npm run soak -- --instances 10000
// --kills 60`; this one is sized for CI's 2 cores): a PSI node process runs 1,000 instances of a mix of scenarios (correlation-key
// and business-key answers, early answers parked at an engine timer, one-of-many groups whose
// two answers both come, answers racing 1.5 s timeouts, three visits of one wait state) while
// it is SIGKILLed 10 times at random moments and restarted on the same store; the sender
// retries every answer until the node acknowledges it; every handler writes a side effect
// keyed by its delivery id. At the end: nothing lost, no handler run for two deliveries (re-runs
// of one delivery, same id, are the documented at-least-once), no `interrupted` letter, no
// spurious timeout, nothing left on ended instances, nothing stuck. See bench/soak/.

const root = path.resolve(__dirname, '..', '..');
const stores = testStoreKinds().filter(
  (kind): kind is 'sqlite' | 'postgres' => kind === 'sqlite' || kind === 'postgres',
);

describe('soak: random SIGKILLs under load (bounded)', () => {
  let dir: string;
  beforeAll(() => {
    // The node process runs the built packages and bench/dist/soak.
    execSync('npx tsc -b tsconfig.build.json', { cwd: root, stdio: 'pipe' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-soak-test-'));
  }, 300_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each(stores)(
    '%s: 1,000 instances, 10 kills: 0 lost, 0 doubled, 0 interrupted, 0 spurious timeouts, 0 leftovers',
    async (store) => {
      const report = await runSoak({
        store,
        instances: 1_000,
        kills: 10,
        dir: fs.mkdtempSync(path.join(dir, `${store}-`)),
        postgresUrl: TEST_POSTGRES_URL,
      });
      if (process.env.PSI_TEST_VERBOSE) {
        console.info(`${formatSoakTable([report])}\n\n${formatRecovery([report])}`);
      }
      expect({ violations: violations(report), examples: report.examples }).toEqual({
        violations: [],
        examples: {},
      });
      expect(report.kills).toBe(10);
      expect(report.ended).toBe(1_000);
      // The mix happened: every kind of ending, deliveries, races lost to timeouts, groups.
      expect(report.delivered).toBeGreaterThan(750);
      expect(report.deadLetters.superseded ?? 0).toBeGreaterThan(0);
      expect(report.endings['race:timed-out'] ?? 0).toBeGreaterThan(0);
      expect(report.endings['loop:done']).toBeGreaterThan(0);
    },
    600_000,
  );
});
