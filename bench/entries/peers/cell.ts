import { runClosedLoop } from '../closed-loop';
import { cpuWindow, type StatementCount } from './probes';

/** When the service answers: before the instance/workflow waits, or once it waits. */
export type Answer = 'early' | 'when-waiting';

/** One cell of a round: one system, one answer timing, one concurrency. */
export interface CellSpec {
  answer: Answer;
  concurrency: number;
  /** Operations run (and discarded) before the window. */
  warmup: number;
  /** The window: no operation starts after it; those in flight still count. */
  seconds: number;
  /** Restate only: a keyed workflow or a plain service handler. */
  kind?: 'workflow' | 'service';
}

/** What one cell measured; sent from a worker to the entry. */
export interface CellResult {
  operations: number;
  seconds: number;
  p50Ms?: number;
  p99Ms?: number;
  /** The worker process (client side), all threads. */
  cpuMicros: number;
  /** The system's server processes; undefined when none was found. */
  serverCpuMicros?: number;
  /** Counted at the driver; undefined for a system without SQL. */
  statements?: number;
  transactions?: number;
  byKeyword?: string;
  /** Operations that did not end as they should (counted in `operations` too). */
  failures: number;
  firstFailure?: string;
  /** PSI only: answers parked and then released. */
  parked?: number;
}

/** A system under test inside a worker process, set up once and kept warm across rounds. */
export interface PeerSystem {
  runCell(cell: CellSpec): Promise<CellResult>;
  close(): Promise<void>;
}

/** Messages between the entry and a worker (worker.ts). */
export type ToWorker =
  | { cmd: 'setup'; system: 'psi' | 'dbos' | 'restate'; config: WorkerConfig }
  | { cmd: 'cell'; cell: CellSpec }
  | { cmd: 'close' };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'result'; result: CellResult }
  | { type: 'closed' }
  | { type: 'failed'; message: string };

/** Everything a worker may need; each system reads its part. */
export interface WorkerConfig {
  /** PostgreSQL URL of the system's own database (psi, dbos). */
  url?: string;
  /** Its name, to find its backends. */
  database?: string;
  /** Where the peers are installed (dbos, restate). */
  peersFolder?: string;
  /** Restate: the ingress and admin URLs and the server's pid. */
  ingressUrl?: string;
  adminUrl?: string;
  serverPid?: number;
  poolSize?: number;
}

/** What a cell measures besides the closed loop itself. */
export interface CellProbes {
  /** Runs after the warm-up, before the window opens (e.g. let warm-up answers finish). */
  beforeWindow?(): Promise<void>;
  /** The server processes whose CPU counts for this system. */
  serverPids?(): number[];
  statements?: { begin(): void; end(): StatementCount };
}

/**
 * Runs `operation` in a closed loop (bench/entries/closed-loop.ts) for the cell's window after
 * its warm-up, with the server's CPU and the driver's statements counted over the same window.
 * `operation` resolves true when it ended as it should; a failure or a throw is counted, never
 * ends the cell.
 */
export async function measureCell(
  cell: CellSpec,
  operation: (n: number) => Promise<boolean>,
  probes: CellProbes = {},
): Promise<CellResult> {
  let failures = 0;
  let firstFailure: string | undefined;
  let serverCpu: (() => number | undefined) | undefined;
  let serverCpuMicros: number | undefined;
  let counted: StatementCount | undefined;
  const measured = await runClosedLoop(
    {
      concurrency: cell.concurrency,
      warmup: cell.warmup,
      operations: Number.MAX_SAFE_INTEGER,
      maxSeconds: cell.seconds,
    },
    async (n) => {
      let ok: boolean;
      try {
        ok = await operation(n);
        if (!ok) firstFailure ??= 'did not end as expected';
      } catch (error) {
        ok = false;
        firstFailure ??= error instanceof Error ? error.message : String(error);
      }
      if (!ok) failures++;
    },
    {
      begin: async () => {
        await probes.beforeWindow?.();
        failures = 0;
        firstFailure = undefined;
        probes.statements?.begin();
        serverCpu = probes.serverPids ? cpuWindow(probes.serverPids) : undefined;
      },
      end: () => {
        serverCpuMicros = serverCpu?.();
        counted = probes.statements?.end();
      },
    },
  );
  return {
    ...measured,
    serverCpuMicros,
    statements: counted?.statements,
    transactions: counted?.transactions,
    byKeyword: counted?.byKeyword,
    failures,
    firstFailure,
  };
}
