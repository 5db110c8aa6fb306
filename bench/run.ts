import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bpmnMemory } from './entries/bpmn-memory';
import { bpmnThroughput } from './entries/bpmn-throughput';
import type { BenchContext, BenchEntry } from './entries/entry';
import { httpRequestReply } from './entries/http-request-reply';
import { kafkaRequestReply } from './entries/kafka-request-reply';
import { observability } from './entries/observability';
import { operationsListing } from './entries/operations-listing';
import { peers } from './entries/peers';
import { postgresCorrelation } from './entries/postgres-correlation';
import { psiCorrelation } from './entries/psi-correlation';
import { recoveryTime } from './entries/recovery';
import { scale } from './entries/scale';
import { sqliteBaseline } from './entries/sqlite-baseline';
import { formatTable, toJsonRows, type BenchResult } from './report';

/** Every entry, in run order; baselines first. Add new entries (bench/entries/*.ts) here. */
const entries: BenchEntry[] = [
  sqliteBaseline,
  psiCorrelation,
  postgresCorrelation,
  peers,
  httpRequestReply,
  kafkaRequestReply,
  bpmnMemory,
  bpmnThroughput,
  operationsListing,
  recoveryTime,
  scale,
  observability,
];

const USAGE = `usage: node bench/dist/run.js [--quick] [--only <name>[,<name>...]] [--json <file>] [--populations <n>[,<n>...]] [--list]
  --quick   a smoke run with far fewer operations (numbers indicative only)
  --only    run these entries (and the baselines they are compared with)
  --json    also write every row to <file> (per-operation figures, ratios and what they are against)
  --populations  store sizes (open expectations) for entries that take them (scale), e.g. 0,100000
  --list    list the entries and exit`;

/** A bad command line: reported without a stack trace. */
class UsageError extends Error {}

interface Args {
  quick: boolean;
  only: string[] | undefined;
  json: string | undefined;
  list: boolean;
  populations: number[] | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    quick: false,
    only: undefined,
    json: undefined,
    list: false,
    populations: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') args.quick = true;
    else if (arg === '--list') args.list = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      if (!value) throw new UsageError(`--only needs an entry name\n${USAGE}`);
      args.only = [...(args.only ?? []), ...value.split(',').filter(Boolean)];
    } else if (arg === '--json' || arg.startsWith('--json=')) {
      args.json = arg === '--json' ? argv[++i] : arg.slice('--json='.length);
      if (!args.json) throw new UsageError(`--json needs a file name\n${USAGE}`);
    } else if (arg === '--populations' || arg.startsWith('--populations=')) {
      const value = arg === '--populations' ? argv[++i] : arg.slice('--populations='.length);
      const sizes = (value ?? '').split(',').filter(Boolean).map(Number);
      if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 0))
        throw new UsageError(`--populations needs whole numbers, e.g. 0,100000\n${USAGE}`);
      args.populations = sizes;
    } else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new UsageError(`unknown argument "${arg}"\n${USAGE}`);
  }
  return args;
}

/** The entries to run: those named, plus their baselines, in registration order. */
function select(only: string[] | undefined): BenchEntry[] {
  if (!only) return entries;
  const known = new Set(entries.map((e) => e.name));
  const unknown = only.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new UsageError(`unknown entry ${unknown.join(', ')}; known: ${[...known].join(', ')}`);
  }
  const wanted = new Set(only);
  for (const entry of entries) {
    if (wanted.has(entry.name)) entry.baselines?.forEach((b) => wanted.add(b));
  }
  return entries.filter((e) => wanted.has(e.name));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.list) {
    for (const e of entries) console.log(`${e.name.padEnd(18)} ${e.description}`);
    return;
  }
  const selected = select(args.only);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-bench-'));
  const log = (message: string): void => void process.stderr.write(`${message}\n`);
  const results: BenchResult[] = [];
  const startedAt = Date.now();
  const machine =
    `node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ` +
    `${os.platform()} ${os.release()}`;
  const loadBefore = loadAverage();
  console.log(
    `PSI benchmark${args.quick ? ' (--quick: indicative only)' : ''} — ${machine}, ` +
      `load average ${loadBefore}`,
  );
  try {
    for (const entry of selected) {
      const tmpDir = fs.mkdtempSync(path.join(root, `${entry.name}-`));
      const context: BenchContext = {
        quick: args.quick,
        tmpDir,
        log,
        populations: args.populations,
      };
      log(`▶ ${entry.name}: ${entry.description}`);
      const t0 = Date.now();
      results.push(...(await entry.run(context)));
      log(`  done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  console.log('');
  console.log(formatTable(results));
  console.log(
    `\ntotal ${((Date.now() - startedAt) / 1000).toFixed(1)} s; load average now ${loadAverage()} ` +
      '(a load above the core count means other processes shared the CPUs: compare cpu µs/op)',
  );
  if (args.json) {
    const report = {
      startedAt: new Date(startedAt).toISOString(),
      seconds: (Date.now() - startedAt) / 1000,
      quick: args.quick,
      machine,
      loadAverage: { before: loadBefore, after: loadAverage() },
      rows: toJsonRows(results),
    };
    // Relative to where `npm run bench` was typed (npm runs scripts in the package root).
    const file = path.resolve(process.env.INIT_CWD ?? process.cwd(), args.json);
    fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    log(`rows written to ${file}`);
  }
}

function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

main().catch((error: unknown) => {
  console.error(error instanceof UsageError ? error.message : error);
  process.exitCode = error instanceof UsageError ? 2 : 1;
});
