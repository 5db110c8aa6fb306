import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { analyseSoak, type SoakAnalysis } from './soak-analysis';
import {
  LOOP_VISITS,
  SCENARIOS,
  type NodeReport,
  type Scenario,
  type SoakNodeParams,
  type SupervisorCommand,
} from './soak-protocol';
import { createSoakStore, writeHistory, type SoakStore } from './soak-store';

/**
 * The soak test of crash safety (issue 21): a supervisor runs one PSI node process
 * (soak-node.ts) on a store, starts `instances` instances of a mix of scenarios, answers every
 * request like a remote service that retries each answer until the node acknowledges it, and
 * SIGKILLs the node `kills` times at random moments, restarting it at once on the same store
 * (on SQLite under the same default node id; on PostgreSQL under a new one, as its default id
 * is per process). At the end it reads the store and reports what became of every instance,
 * answer and handler run (soak-analysis.ts).
 */
export interface SoakOptions {
  store: 'sqlite' | 'postgres';
  instances: number;
  kills: number;
  /** Where SQLite files go. */
  dir: string;
  /** @default the machine's PostgreSQL (PSI_TEST_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/postgres) */
  postgresUrl?: string;
  /** Instances started and not yet ended, at most. @default 200 */
  inFlight?: number;
  /** The nodes' leaseMs: what a dead node's work would wait for without liveness. @default 30_000 */
  leaseMs?: number;
  /** Ended instances written into the store first (restore and recovery must not read them). @default 0 */
  history?: number;
  /** Seed of the random kill moments, answer orders and delays. @default the time */
  seed?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Give up when nothing moved for this long. @default 120_000 */
  stallMs?: number;
  /** Keep the store (its files or schema) for inspection. @default false */
  keep?: boolean;
}

/** One node process's life, for the recovery figures. */
export interface Incarnation {
  forkedAt: number;
  readyMs?: number;
  firstDeliveryMs?: number;
  /** The node's recovery at start finished (its info line came). */
  recoveredMs?: number;
  /** Claims the previous node left when it was killed, and when all of them were settled. */
  claimsLeft: number;
  claimsSettledMs?: number;
}

export interface SoakReport extends SoakAnalysis {
  store: 'sqlite' | 'postgres';
  instances: number;
  kills: number;
  seed: number;
  seconds: number;
  answersSent: number;
  acks: Record<string, number>;
  incarnations: Incarnation[];
  problems: Array<{ level: string; message: string; detail?: string }>;
}

const BATCH = 25;
// The node runs built code: beside this file in bench/dist/soak, or there when this file runs
// from source (jest).
const NODE_SCRIPT = __filename.endsWith('.ts')
  ? path.join(__dirname, '..', 'dist', 'soak', 'soak-node.js')
  : path.join(__dirname, 'soak-node.js');

interface Answer {
  messageId: string;
  instanceId: string;
  scenario: Scenario;
  visit: number;
  command: Extract<SupervisorCommand, { cmd: 'answer' }>;
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const seed = options.seed ?? Date.now() % 1_000_000_007;
  const random = mulberry32(seed);
  const log = options.log ?? (() => undefined);
  const inFlight = options.inFlight ?? 200;
  const leaseMs = options.leaseMs ?? 30_000;
  const stallMs = options.stallMs ?? 120_000;
  const store = await createSoakStore({
    kind: options.store,
    dir: options.dir,
    postgresUrl:
      options.postgresUrl ??
      process.env.PSI_TEST_POSTGRES_URL ??
      'postgres://postgres@127.0.0.1:5432/postgres',
  });
  try {
    if (options.history) {
      log(`writing ${options.history} ended instances`);
      await writeHistory(store, options.history);
    }
    const run = new SoakRun(store, options, { seed, random, log, inFlight, leaseMs, stallMs });
    const startedAt = Date.now();
    await run.run();
    const seconds = (Date.now() - startedAt) / 1000;
    const analysis = await analyseSoak(store, run.sent, run.ackLog);
    return {
      ...analysis,
      store: options.store,
      instances: options.instances,
      kills: run.killed,
      seed,
      seconds,
      answersSent: run.sent.size,
      acks: run.ackCounts(),
      incarnations: run.incarnations,
      problems: run.problems,
    };
  } finally {
    await store.close();
    if (!options.keep) await store.destroy();
  }
}

class SoakRun {
  readonly sent = new Map<string, Answer>();
  readonly ackLog = new Map<string, string[]>();
  readonly incarnations: Incarnation[] = [];
  readonly problems: SoakReport['problems'] = [];
  killed = 0;
  private node: ChildProcess | undefined;
  private nodeReady = false;
  private readonly pendingStarts = new Set<string>();
  private readonly startedIds = new Set<string>();
  private readonly pending = new Map<string, Answer>();
  private readonly timers = new Set<NodeJS.Timeout>();
  // Answers the sender holds back (a race's delay), not yet pending.
  private delayed = 0;
  private next = 0;
  private ended = 0;
  private acks = 0;
  private readonly killAt: number[];
  private killing = false;
  private lastProgress = Date.now();
  private finished!: () => void;
  private failed!: (error: Error) => void;

  constructor(
    private readonly store: SoakStore,
    private readonly options: SoakOptions,
    private readonly settings: {
      seed: number;
      random: () => number;
      log: (line: string) => void;
      inFlight: number;
      leaseMs: number;
      stallMs: number;
    },
  ) {
    // Answers per scenario: ck, bk, early, race 1; group 2; loop one per visit.
    const perCycle = SCENARIOS.reduce((n, s) => n + answersOf(s), 0) / SCENARIOS.length;
    const expected = options.instances * perCycle;
    this.killAt = Array.from(
      { length: options.kills },
      () => (0.03 + 0.94 * this.settings.random()) * expected,
    ).sort((a, b) => a - b);
  }

  run(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.finished = resolve;
      this.failed = reject;
      this.spawn();
      const poll = setInterval(() => {
        this.poll().catch((error: unknown) => this.fail(error));
      }, 250);
      this.timers.add(poll);
    }).finally(() => {
      for (const timer of this.timers) clearTimeout(timer);
    });
  }

  ackCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const outcomes of this.ackLog.values()) {
      for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
    }
    return counts;
  }

  private spawn(): void {
    const params: SoakNodeParams = { store: this.store.params, leaseMs: this.settings.leaseMs };
    const incarnation: Incarnation = { forkedAt: Date.now(), claimsLeft: 0 };
    this.incarnations.push(incarnation);
    const child = fork(NODE_SCRIPT, [JSON.stringify(params)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.node = child;
    this.nodeReady = false;
    child.on('message', (raw) => this.onReport(child, incarnation, raw as NodeReport));
    child.on('exit', (code, signal) => {
      if (this.node !== child) return;
      this.node = undefined;
      if (signal === 'SIGKILL' && this.killing) {
        this.killing = false;
        void this.restart().catch((error: unknown) => this.fail(error));
      } else if (!this.stopping) {
        this.fail(new Error(`the soak node exited by itself (${String(code ?? signal)})`));
      }
    });
  }

  private stopping = false;

  /** Right after a kill: note the claims it left, start the next node, time their settling. */
  private async restart(): Promise<void> {
    const left = await this.store.query<{ id: string }>(
      `SELECT id FROM psi_expectation WHERE status = 'claimed'`,
    );
    this.spawn();
    const incarnation = this.incarnations[this.incarnations.length - 1];
    incarnation.claimsLeft = left.length;
    if (left.length === 0) return;
    const ids = left.map((r) => r.id);
    for (;;) {
      const still = await this.store.query<{ n: number }>(
        `SELECT COUNT(*) AS n FROM psi_expectation WHERE status = 'claimed' AND id IN (${ids.map(() => '?').join(', ')})`,
        ids,
      );
      if (Number(still[0].n) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    incarnation.claimsSettledMs = Date.now() - incarnation.forkedAt;
  }

  private onReport(child: ChildProcess, incarnation: Incarnation, report: NodeReport): void {
    if (this.node !== child) return;
    const since = Date.now() - incarnation.forkedAt;
    switch (report.type) {
      case 'ready':
        incarnation.readyMs = since;
        this.nodeReady = true;
        // A restarted node gets what the dead one never acknowledged.
        if (this.pendingStarts.size > 0)
          this.send({ cmd: 'start', instances: [...this.pendingStarts].map(this.instance) });
        for (const answer of this.pending.values()) this.send(answer.command);
        this.pump();
        return;
      case 'first-delivery':
        incarnation.firstDeliveryMs = since;
        return;
      case 'recovered':
        incarnation.recoveredMs = since;
        return;
      case 'started':
        this.pendingStarts.delete(report.id);
        this.startedIds.add(report.id);
        return;
      case 'sent':
        this.answer(report);
        return;
      case 'received': {
        const answer = this.pending.get(report.messageId);
        if (!answer) return;
        this.pending.delete(report.messageId);
        const outcome = report.outcome.reason ?? report.outcome.status;
        this.ackLog.set(report.messageId, [...(this.ackLog.get(report.messageId) ?? []), outcome]);
        this.acks++;
        this.lastProgress = Date.now();
        this.maybeKill(incarnation);
        return;
      }
      case 'problem':
        this.problems.push({ level: report.level, message: report.message, detail: report.detail });
        if (report.level === 'fatal') this.fail(new Error(`soak node: ${report.message}`));
        return;
      case 'stopped':
        return;
    }
  }

  private readonly instance = (id: string): { id: string; scenario: Scenario } => ({
    id,
    scenario: SCENARIOS[Number(id.slice('soak-'.length)) % SCENARIOS.length],
  });

  /** Answers a request as the remote service would: which events, when, in what order. */
  private answer(request: Extract<NodeReport, { type: 'sent' }>): void {
    const { instanceId, scenario, visit, correlationKey, requestId } = request;
    const make = (event: string, withKey = true): Answer => ({
      messageId: `${requestId}:${event}`,
      instanceId,
      scenario,
      visit,
      command: {
        cmd: 'answer',
        messageId: `${requestId}:${event}`,
        event,
        ...(withKey ? { correlationKey } : {}),
        payload: { orderNo: instanceId, visit },
      },
    });
    const answers: Answer[] =
      scenario === 'group'
        ? this.settings.random() < 0.5
          ? [make('group-accepted'), make('group-rejected')]
          : [make('group-rejected'), make('group-accepted')]
        : [make(`${scenario}-answered`, scenario !== 'bk')];
    const delayMs = scenario === 'race' ? 1_000 + this.settings.random() * 1_000 : 0;
    for (const answer of answers) {
      this.sent.set(answer.messageId, answer);
      const go = (): void => {
        this.pending.set(answer.messageId, answer);
        if (this.nodeReady) this.send(answer.command);
      };
      if (delayMs === 0) go();
      else {
        this.delayed++;
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.delayed--;
          go();
        }, delayMs);
        this.timers.add(timer);
      }
    }
  }

  private pump(): void {
    if (!this.nodeReady) return;
    while (
      this.next < this.options.instances &&
      this.startedIds.size + this.pendingStarts.size - this.ended < this.settings.inFlight
    ) {
      const batch: string[] = [];
      while (batch.length < BATCH && this.next < this.options.instances) {
        batch.push(`soak-${this.next++}`);
      }
      for (const id of batch) this.pendingStarts.add(id);
      this.send({ cmd: 'start', instances: batch.map(this.instance) });
    }
  }

  private maybeKill(incarnation: Incarnation): void {
    if (this.killing || this.killed >= this.killAt.length) return;
    if (this.acks < this.killAt[this.killed]) return;
    if (incarnation.readyMs === undefined) return;
    this.killing = true;
    this.killed++;
    const node = this.node;
    // A random moment within the next 100 ms: mid-delivery, mid-commit, mid-recovery.
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.settings.log(
        `kill ${this.killed}/${this.killAt.length} after ${this.acks} acknowledged answers`,
      );
      this.nodeReady = false;
      node?.kill('SIGKILL');
    }, this.settings.random() * 100);
    this.timers.add(timer);
  }

  private async poll(): Promise<void> {
    const history = this.options.history ?? 0;
    const [row] = await this.store.query<{ n: number }>(
      `SELECT COUNT(*) AS n FROM psi_engine_instance WHERE NOT running`,
    );
    const ended = Number(row.n) - history;
    if (ended !== this.ended) {
      this.ended = ended;
      this.lastProgress = Date.now();
      this.pump();
    }
    const done =
      this.next === this.options.instances &&
      this.pendingStarts.size === 0 &&
      ended >= this.options.instances &&
      this.pending.size === 0 &&
      this.delayed === 0 &&
      !this.killing;
    if (done || Date.now() - this.lastProgress > this.settings.stallMs) {
      if (!done) this.settings.log('no progress: stopping to report what is stuck');
      await this.stop();
      this.finished();
    }
  }

  private async stop(): Promise<void> {
    this.stopping = true;
    const node = this.node;
    if (!node || node.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => node.once('exit', () => resolve()));
    this.send({ cmd: 'stop' });
    const timeout = setTimeout(() => node.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(timeout);
  }

  private send(command: SupervisorCommand): void {
    const node = this.node;
    if (!node?.connected || !this.nodeReady) return;
    try {
      node.send(command);
    } catch {
      // The node died meanwhile: the command is sent again to the next one.
    }
  }

  private fail(error: unknown): void {
    this.node?.kill('SIGKILL');
    this.failed(error instanceof Error ? error : new Error(String(error)));
  }
}

function answersOf(scenario: Scenario): number {
  if (scenario === 'group') return 2;
  if (scenario === 'loop') return LOOP_VISITS;
  return 1;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same kills, orders and delays. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
