import type { BenchResult } from '../report';
import { runSoak, type SoakReport } from '../soak/soak-supervisor';
import { max, p50, violations } from '../soak/soak-table';
import { skippedRow } from './closed-loop';
import type { BenchEntry } from './entry';

/**
 * Recovery time after a kill (issue 21): the soak's node (bench/soak) runs the scenario mix on a
 * store that already holds 10,000 ended instances (their engine state, invocation, delivered
 * expectation and audit), and is SIGKILLed at random moments under load and restarted at once:
 *
 * - fork → first delivery: from forking the new process until it records its first delivery
 *   (a dead node's claim it finished, or a new answer): process start, store open, restore of
 *   the running instances, the coordinator listening;
 * - fork → claims settled: until every claim the killed node left is settled (the supervisor
 *   reads the claims right after the kill, then polls them), i.e. the dead node's deliveries
 *   are finished. Only kills that left claims count.
 *
 * Target p50 ≤ 2 s for both, on SQLite and PostgreSQL. 1,500 instances and 10 kills per store
 * (`--quick`: 300 and 3); PSI_BENCH_POSTGRES_URL (else PSI_DATABASE_URL, else the local server)
 * names PostgreSQL, unreachable → a skipped row.
 *
 * FINDINGS (the project's shared 2-core VM, load ~3): fork → first delivery p50 552 ms (max
 * 660) on SQLite, 668 ms (max 840) on PostgreSQL; fork → claims settled p50 1,833 ms (max 3,229)
 * on SQLite, 1,047 ms (max 3,010) on PostgreSQL: the 2 s target is met on both, the SQLite one
 * narrowly. ~0.5 s is the process starting; the rest is recovery finishing deliveries (16 at
 * once) while the restored instances and the sender's retries use the same store (one
 * connection on SQLite). The 10,000 ended instances cost nothing: restore() reads only the
 * running ones (index), and the start-up queries use partial indexes.
 */
export const recoveryTime: BenchEntry = {
  name: 'recovery',
  description: 'fork → first delivery / → dead node claims settled after SIGKILL, 10,000 ended',
  run: async (context) => {
    const results: BenchResult[] = [];
    for (const store of ['sqlite', 'postgres'] as const) {
      context.log(`  recovery on ${store}: 10,000 ended instances, then kills under load`);
      let report: SoakReport;
      try {
        report = await runSoak({
          store,
          instances: context.quick ? 300 : 1_500,
          kills: context.quick ? 3 : 10,
          history: 10_000,
          dir: context.tmpDir,
          postgresUrl:
            process.env.PSI_BENCH_POSTGRES_URL ??
            process.env.PSI_DATABASE_URL ??
            'postgres://postgres@127.0.0.1:5432/postgres',
          log: (line) => context.log(`    ${line}`),
        });
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        context.log(`  skipped: ${reason}`);
        results.push(skippedRow(`recovery/${store}`, reason));
        continue;
      }
      results.push(...rows(report));
    }
    return results;
  },
};

function rows(report: SoakReport): BenchResult[] {
  const restarts = report.incarnations.slice(1);
  const withClaims = restarts.filter((i) => i.claimsLeft > 0);
  const broken = violations(report);
  const common = `${report.kills} kills, 10,000 ended in the store${broken.length > 0 ? `; VIOLATIONS ${broken.join(', ')}` : ''}`;
  const row = (what: string, samples: Array<number | undefined>, note: string): BenchResult => {
    const median = p50(samples);
    return {
      name: `recovery/${report.store} ${what}`,
      operations: samples.filter((s) => s !== undefined).length,
      unit: 'restart',
      seconds: report.seconds,
      p50Ms: median,
      p99Ms: max(samples),
      note: `${note}; target p50 ≤ 2 s: ${median !== undefined && median <= 2_000 ? 'met' : 'missed'}; ${common}`,
    };
  };
  return [
    row(
      'fork→first delivery',
      restarts.map((i) => i.firstDeliveryMs),
      `p99 column = max; fork→ready p50 ${p50(restarts.map((i) => i.readyMs)) ?? '-'} ms`,
    ),
    row(
      'fork→claims settled',
      withClaims.map((i) => i.claimsSettledMs),
      `p99 column = max; ${withClaims.length} of ${restarts.length} kills left claims`,
    ),
  ];
}
