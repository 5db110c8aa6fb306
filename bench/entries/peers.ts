import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BenchResult } from '../report';
import { skippedRow } from './closed-loop';
import type { BenchContext, BenchEntry } from './entry';
import type { Answer, CellResult, CellSpec, WorkerConfig } from './peers/cell';
import { createDatabases, databaseUrl } from './peers/databases';
import { installPeers, peersFolder, peerVersions } from './peers/install';
import { startRestateServer, type RestateServer } from './peers/restate-server';
import { peerRows, type RowCell } from './peers/rows';
import { PeerWorker } from './peers/workers';

/**
 * PSI side by side with DBOS Transact and Restate on the same work, in one run: the comparison
 * issue 17 sets its throughput targets against (PSI ≥ 2× Restate and ≥ 3× DBOS at c=64, ≥ 1.5×
 * both at c=1, ratios taken in the same run). The method is the one of the shared peer harness
 * (../shared/peer-bench), written again in this bench's style.
 *
 * One operation on each system (the closest equivalent of one PSI correlation):
 * - PSI (PostgreSQL): the bench's full correlation (peers/psi-system.ts, as postgres-node.ts):
 *   `engine.start` → service step → invoke (expectation + outbox committed) → in-process
 *   dispatch → the echo answers → receive (dedupe, match, park or deliver) → claim → handler →
 *   engine signal → instance ended.
 * - DBOS Transact (its own database on the same server, same pool size 10):
 *   `startWorkflow(pingWorkflow)` → step `ping` (triggers the answer) → `recv('pong', 60)` →
 *   return, awaited with `getResult()`; the answer is `DBOS.send` from outside any workflow
 *   (peers/dbos-system.ts).
 * - Restate (restate-server from npm, default configuration on loopback, plus the TS SDK): the
 *   ingress call `POST /pingWorkflow/<key>/run` → `ctx.awakeable()` → `ctx.run('ping')`
 *   (triggers the answer) → await the awakeable → return; the answer is `resolveAwakeable`
 *   through the ingress. Also the same handler as a plain service, early only
 *   (peers/restate-system.ts).
 * Answer timing: `early` = the service answers on the next turn of the event loop, before the
 * instance waits (PSI parks and releases it, DBOS buffers the message, Restate stores the
 * completion); `when-waiting` = once the instance waits.
 *
 * Method: each system runs in its own worker process (peers/worker.ts), set up once and kept
 * warm. A round runs every cell once, one at a time, PSI next to its peers for the same answer
 * and concurrency; each cell warms up (30 operations at c=1, 128 at c=64), then runs a closed
 * loop of `concurrency` callers for its window. Per row: operations, seconds and CPU summed over
 * the rounds; p50/p99 the median of the rounds'. CPU per operation: client = the worker process
 * (all threads); server = utime+stime from /proc of the PostgreSQL backends connected to the
 * system's own database plus the WAL writer, checkpointer and background writer (shared: other
 * databases' commits in the window count too), or of the restate-server process (its idle CPU,
 * printed in the note, included). Statements and transactions per operation are counted at the
 * driver (node-postgres `Client#query`; a transaction = BEGIN/START or a statement outside a
 * block). The PSI rows carry their ratio to each peer row: ops/s ratios taken within each round
 * (neighbours in time, so noise on a shared machine hits both), the median reported, with the
 * client+server CPU-per-operation ratio in the note.
 *
 * Settings: 3 rounds × 14 cells × 6 s (~5 minutes with set-up); `--quick` 1 round × 2 s (~40 s);
 * PSI_BENCH_PEERS_ROUNDS and PSI_BENCH_PEERS_SECONDS override either. The first run also installs
 * the peers (~10 s, ~240 MB). restate-server's data (~0.3 GB) lives in the entry's temp folder.
 * PSI_BENCH_POSTGRES_URL (else PSI_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres)
 * names the server; the role must be allowed to create databases (two, dropped at the end).
 *
 * The peers are installed on first use (peers/install.ts: pinned versions, a cache folder outside
 * the repository, never by `npm ci`); no registry, an unsupported platform for restate-server,
 * or a peer failing prints a skipped row saying why, and the other systems still run.
 *
 * Caveats:
 * - Restate's TS SDK 1.17 calls `Promise.withResolvers` (Node 22+); its worker polyfills it on
 *   Node 20. Its per-invocation INFO log is turned down to WARN.
 * - DBOS's `when-waiting` hook patches an internal function (`cancellableSleep`, only called by
 *   a waiting `recv` inside a workflow); a later DBOS release may move it.
 * - DBOS's recv has a 60 s timeout, which costs it a durable-sleep checkpoint; PSI's
 *   expectation here carries no deadline.
 * - Server CPU is read from /proc: Linux, and the server on this machine; otherwise that column
 *   is empty. Stores grow over the run (nothing is deleted between cells), alike for all.
 * - On a machine shared with other work the rates swing between rounds; the ratios within a
 *   round, CPU per operation and the statement counts are the figures to compare.
 */
export const peers: BenchEntry = {
  name: 'peers',
  description:
    'PSI beside DBOS Transact and Restate on the same work (PostgreSQL, c=1 and c=64, ' +
    'answer early and when waiting), interleaved rounds, CPU client + server',
  run: async (context) => {
    const url =
      process.env.PSI_BENCH_POSTGRES_URL ??
      process.env.PSI_DATABASE_URL ??
      'postgres://postgres@127.0.0.1:5432/postgres';
    const names = { psi: `psi_peers_${process.pid}_psi`, dbos: `psi_peers_${process.pid}_dbos` };
    let databases: { drop(): Promise<void> };
    try {
      databases = await createDatabases(url, [names.psi, names.dbos]);
    } catch (error) {
      const reason = `no PostgreSQL databases at ${redact(url)}: ${message(error)}`;
      context.log(`  skipped: ${reason}`);
      return [skippedRow('peers', reason)];
    }
    const run = new PeersRun(context, databases, {
      psi: { url: databaseUrl(url, names.psi), database: names.psi, poolSize: POOL_SIZE },
      dbos: { url: databaseUrl(url, names.dbos), database: names.dbos, poolSize: POOL_SIZE },
    });
    try {
      return await run.measure();
    } finally {
      await run.close();
    }
  },
};

/** PSI's pool and DBOS's, as the harness had them. */
const POOL_SIZE = 10;

type SystemName = 'psi' | 'dbos' | 'restate';

/** A cell of every round. */
interface PlannedCell extends RowCell {
  system: SystemName;
  spec: Pick<CellSpec, 'answer' | 'concurrency' | 'kind'>;
}

/** Every cell of a round, in the order they run: PSI next to its peers. */
function plan(): PlannedCell[] {
  const cells: PlannedCell[] = [];
  for (const concurrency of [1, 64]) {
    const answers: Answer[] = ['early', 'when-waiting'];
    for (const answer of answers) {
      const key = `${answer} c=${concurrency}`;
      const psiRow = `peers/psi pg ${key}`;
      cells.push(
        { name: psiRow, unit: 'correlation', system: 'psi', spec: { answer, concurrency } },
        {
          name: `peers/dbos pg ${key}`,
          unit: 'workflow',
          system: 'dbos',
          spec: { answer, concurrency },
          psiRow,
        },
        {
          name: `peers/restate workflow ${key}`,
          unit: 'invocation',
          system: 'restate',
          spec: { answer, concurrency, kind: 'workflow' },
          psiRow,
        },
      );
    }
    cells.push({
      name: `peers/restate service early c=${concurrency}`,
      unit: 'invocation',
      system: 'restate',
      spec: { answer: 'early', concurrency, kind: 'service' },
      psiRow: `peers/psi pg early c=${concurrency}`,
    });
  }
  return cells;
}

/** One run of the entry: its workers, its restate-server, its rounds. */
class PeersRun {
  private readonly cells = plan();
  private readonly workers = new Map<SystemName, PeerWorker>();
  private readonly rounds = new Map<string, Array<CellResult | undefined>>();
  /** Per row: why it was skipped, or what its note adds. */
  private readonly notes = new Map<string, string>();
  private restate: RestateServer | undefined;
  private readonly seconds: number;
  private readonly roundCount: number;
  /** restate-server's data; in the entry's folder, which the runner deletes at the end. */
  private readonly restateDir: string;
  private readonly interrupted = (signal: NodeJS.Signals): void => {
    // Stop what this run started (by pid), drop its databases, exit as the signal would have.
    for (const worker of this.workers.values()) worker.kill();
    if (this.restate?.pid) process.kill(this.restate.pid, 'SIGTERM');
    fs.rmSync(this.restateDir, { recursive: true, force: true }); // RocksDB's files: ~0.3 GB
    const exit = (): never => process.exit(signal === 'SIGINT' ? 130 : 143);
    setTimeout(exit, 5_000).unref();
    this.databases.drop().then(exit, exit);
  };

  constructor(
    private readonly context: BenchContext,
    private readonly databases: { drop(): Promise<void> },
    private readonly configs: { psi: WorkerConfig; dbos: WorkerConfig },
  ) {
    this.seconds = setting(context, 'PSI_BENCH_PEERS_SECONDS', context.quick ? 2 : 6);
    this.roundCount = Math.round(setting(context, 'PSI_BENCH_PEERS_ROUNDS', context.quick ? 1 : 3));
    this.restateDir = path.join(context.tmpDir, 'restate');
    process.once('SIGINT', this.interrupted);
    process.once('SIGTERM', this.interrupted);
  }

  async measure(): Promise<BenchResult[]> {
    await this.startWorker('psi', this.configs.psi);
    await this.startPeers();
    const log = this.context.log;
    log(`  ${this.roundCount} round(s) × ${this.cells.length} cells × ${this.seconds} s`);
    for (let round = 0; round < this.roundCount; round++) {
      for (const cell of this.cells) {
        const worker = this.workers.get(cell.system);
        if (!worker) continue;
        const spec: CellSpec = {
          ...cell.spec,
          seconds: this.seconds,
          warmup: cell.spec.concurrency === 1 ? (this.context.quick ? 10 : 30) : 128,
        };
        try {
          const result = await worker.cell(spec);
          this.record(cell.name, round, result);
          log(`  r${round + 1} ${describe(cell.name, result)}`);
          if (round === this.roundCount - 1 && result.byKeyword) {
            log(`     statements in the window: ${result.byKeyword}`);
          }
        } catch (error) {
          this.fail(cell.system, `failed in round ${round + 1}: ${message(error)}`);
          this.workers.delete(cell.system);
          await worker.close();
        }
      }
    }
    await this.noteRestateJournal();
    return peerRows(this.cells, this.rounds, this.notes);
  }

  async close(): Promise<void> {
    for (const worker of this.workers.values()) await worker.close();
    this.workers.clear();
    await this.restate?.stop();
    await this.databases.drop();
    process.off('SIGINT', this.interrupted);
    process.off('SIGTERM', this.interrupted);
  }

  private async startPeers(): Promise<void> {
    let fromPeers: NodeRequire;
    try {
      fromPeers = await installPeers(this.context.log);
    } catch (error) {
      const reason = `peers not installed: ${message(error)}`;
      this.fail('dbos', reason);
      this.fail('restate', reason);
      return;
    }
    const folder = peersFolder();
    this.noteAll('dbos', peerVersions('@dbos-inc/'));
    await this.startWorker('dbos', { ...this.configs.dbos, peersFolder: folder });
    try {
      this.restate = await startRestateServer(fromPeers, this.restateDir);
    } catch (error) {
      this.fail('restate', `restate-server did not start: ${message(error)}`);
      return;
    }
    await this.startWorker('restate', {
      peersFolder: folder,
      ingressUrl: this.restate.ingressUrl,
      adminUrl: this.restate.adminUrl,
      serverPid: this.restate.pid,
    });
    const idle = await this.restate.idleCpuMicrosPerSecond(this.context.quick ? 2 : 5);
    const idleMs = idle === undefined ? '?' : (idle / 1000).toFixed(0);
    this.noteAll('restate', `${peerVersions('@restatedev/')}; server idle ${idleMs} ms CPU/s`);
  }

  private async startWorker(system: SystemName, config: WorkerConfig): Promise<void> {
    const worker = new PeerWorker(system, config);
    try {
      await worker.start();
      this.workers.set(system, worker);
    } catch (error) {
      await worker.close();
      this.fail(system, `${system} did not start: ${message(error)}`);
    }
  }

  private async noteRestateJournal(): Promise<void> {
    if (!this.restate || !this.workers.has('restate')) return;
    try {
      const journal = await this.restate.journalEntries();
      for (const cell of this.cells) {
        const entries = journal.get(cell.spec.kind === 'service' ? 'pingService' : 'pingWorkflow');
        if (cell.system === 'restate' && entries !== undefined) {
          this.note(cell.name, `${entries.toFixed(1)} journal entries per invocation`);
        }
      }
    } catch (error) {
      this.context.log(`  restate introspection failed: ${message(error)}`);
    }
  }

  private record(name: string, round: number, result: CellResult): void {
    const results = this.rounds.get(name) ?? [];
    results[round] = result;
    this.rounds.set(name, results);
  }

  /** Every row of `system` gets `reason` (a skip reason, or a note on partial rows). */
  private fail(system: SystemName, reason: string): void {
    this.context.log(`  ${system}: ${reason}`);
    // One line in the table: a server log's tail or a stack would break it.
    this.noteAll(system, reason.replace(/\s*\n\s*/g, ' | ').slice(0, 400));
  }

  private noteAll(system: SystemName, text: string): void {
    for (const cell of this.cells) if (cell.system === system) this.note(cell.name, text);
  }

  private note(name: string, text: string): void {
    const before = this.notes.get(name);
    this.notes.set(name, before ? `${before}; ${text}` : text);
  }
}

/** A positive number from the environment, else `fallback` (said in the log when it was bad). */
function setting(context: BenchContext, name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (Number.isFinite(value) && value > 0) return value;
  context.log(`  ${name}=${text} is not a positive number: ${fallback} instead`);
  return fallback;
}

function describe(name: string, r: CellResult): string {
  const per = (micros: number | undefined): string =>
    micros === undefined ? '—' : Math.round(micros / Math.max(1, r.operations)).toString();
  return (
    `${name.padEnd(36)} ${(r.operations / r.seconds).toFixed(1).padStart(7)}/s  ` +
    `cpu ${per(r.cpuMicros)} + ${per(r.serverCpuMicros)} µs/op` +
    (r.statements
      ? `  ${(r.statements / r.operations).toFixed(1)} stmts ` +
        `${((r.transactions ?? 0) / r.operations).toFixed(2)} tx`
      : '') +
    (r.failures ? `  FAILED ${r.failures}: ${r.firstFailure ?? ''}` : '')
  );
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
