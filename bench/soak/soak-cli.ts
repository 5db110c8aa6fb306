import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runSoak, type SoakReport } from './soak-supervisor';
import { formatRecovery, formatSoakTable, violations } from './soak-table';

const USAGE = `usage: npm run soak -- [--instances N] [--kills N] [--store sqlite|postgres|both] [--seed N] [--keep]
  --instances  instances to run (default 10000)
  --kills      random SIGKILLs of the node (default 60)
  --store      where (default both: SQLite, then PostgreSQL on PSI_TEST_POSTGRES_URL or 127.0.0.1)
  --seed       the random kill moments and answer orders (default: the time, printed)
  --keep       keep the store (files / schema) for inspection`;

interface Args {
  instances: number;
  kills: number;
  stores: Array<'sqlite' | 'postgres'>;
  seed?: number;
  keep: boolean;
}

function parse(argv: string[]): Args {
  const args: Args = { instances: 10_000, kills: 60, stores: ['sqlite', 'postgres'], keep: false };
  for (let i = 0; i < argv.length; i++) {
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${argv[i - 1]} needs a value\n${USAGE}`);
      return v;
    };
    switch (argv[i]) {
      case '--instances':
        args.instances = positive(value(), '--instances');
        break;
      case '--kills':
        args.kills = Number(value());
        break;
      case '--store': {
        const store = value();
        if (store === 'both') args.stores = ['sqlite', 'postgres'];
        else if (store === 'sqlite' || store === 'postgres') args.stores = [store];
        else throw new Error(`--store: sqlite, postgres or both\n${USAGE}`);
        break;
      }
      case '--seed':
        args.seed = Number(value());
        break;
      case '--keep':
        args.keep = true;
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument "${argv[i]}"\n${USAGE}`);
    }
  }
  return args;
}

function positive(text: string, name: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`);
  return n;
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const reports: SoakReport[] = [];
  for (const store of args.stores) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-soak-'));
    process.stderr.write(`soak on ${store}: ${args.instances} instances, ${args.kills} kills\n`);
    try {
      const report = await runSoak({
        store,
        instances: args.instances,
        kills: args.kills,
        dir,
        seed: args.seed,
        keep: args.keep,
        log: (line) => process.stderr.write(`  ${line}\n`),
      });
      reports.push(report);
      process.stderr.write(`  seed ${report.seed}, ${report.seconds.toFixed(0)} s\n`);
    } finally {
      if (!args.keep) fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(formatSoakTable(reports));
  console.log();
  console.log(formatRecovery(reports));
  let failed = false;
  for (const report of reports) {
    const found = violations(report);
    if (found.length === 0) continue;
    failed = true;
    console.log(`\n${report.store}: ${found.join(', ')}`);
    console.log(
      JSON.stringify(
        { examples: report.examples, problems: report.problems.slice(0, 10) },
        null,
        2,
      ),
    );
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 2;
});
