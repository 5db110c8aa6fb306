import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { CellResult, CellSpec, FromWorker, ToWorker, WorkerConfig } from './cell';

type SystemName = Extract<ToWorker, { cmd: 'setup' }>['system'];

/** Set-up (a DBOS launch, a Restate deployment) within this; else the worker is stopped. */
const SETUP_MS = 120_000;
/** A cell's window plus this for its warm-up and the operations in flight at its end. */
const CELL_SLACK_MS = 180_000;

/**
 * The entry's handle on one worker process (worker.ts): set up once, then one cell at a time.
 * The worker's output goes to stderr, so stdout stays the table.
 */
export class PeerWorker {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly system: SystemName,
    private readonly config: WorkerConfig,
  ) {}

  async start(): Promise<void> {
    const child = fork(path.join(__dirname, 'worker.js'), [], {
      stdio: ['ignore', 2, 2, 'ipc'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await this.request({ cmd: 'setup', system: this.system, config: this.config }, SETUP_MS);
  }

  async cell(cell: CellSpec): Promise<CellResult> {
    const reply = await this.request({ cmd: 'cell', cell }, cell.seconds * 1000 + CELL_SLACK_MS);
    if (reply.type !== 'result') throw new Error(`${this.system}: unexpected ${reply.type}`);
    return reply.result;
  }

  /** Asks the worker to close its system; stops it (by its pid) if it does not exit in time. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    try {
      await this.request({ cmd: 'close' }, 15_000);
    } catch {
      // stopped below
    }
    await this.waitForExit(5_000);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await this.exited;
    }
  }

  /** Stops the worker at once (an interrupted run). */
  kill(): void {
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  private async waitForExit(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  /** Sends `message`; resolves with the worker's next reply, rejects on failure, exit or timeout. */
  private request(message: ToWorker, timeoutMs: number): Promise<FromWorker> {
    const child = this.child;
    if (!child || !child.connected) {
      return Promise.reject(new Error(`${this.system} worker is not running`));
    }
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const onMessage = (reply: FromWorker): void => {
        done();
        if (reply.type === 'failed') reject(new Error(reply.message));
        else resolve(reply);
      };
      const onExit = (code: number | null, signal: string | null): void => {
        done();
        reject(new Error(`${this.system} worker exited (${String(code ?? signal)})`));
      };
      const timer = setTimeout(() => {
        done();
        child.kill('SIGKILL');
        reject(new Error(`${this.system} worker gave no answer within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(message);
    });
  }
}
