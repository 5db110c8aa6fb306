import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { InProcessService } from '@psi/adapters';
import type { StartScriptRequest, StopScriptResult } from './contracts';

/** What the script printed about one of its reports: what it sent, the HTTP status and body. */
export interface ScriptReport {
  event: string;
  /** The report's data and message id, as sent (so a retry can send the same). */
  data?: unknown;
  messageId?: string;
  status?: number;
  body?: unknown;
  /** Set when the POST itself failed (no HTTP answer). */
  error?: string;
}

/** How a child process ended. */
export interface ScriptExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One started script. */
export interface ScriptRun {
  job: string;
  pid: number;
  /**
   * The callback URL the script was started with, token included. Held in this process's memory
   * only (the script's retries are played with it); PSI's store never sees it.
   */
  callbackUrl: string;
  /** Reports in the order the script made them, as it printed them. */
  readonly reports: ScriptReport[];
  /** Resolves when the child process exited. */
  readonly exited: Promise<ScriptExit>;
}

export interface ScriptRunnerOptions {
  /** The script to run with `node`. @default external-script.js of this sample */
  scriptPath?: string;
  /** Hears every report as the script prints it. */
  onReport?: (run: ScriptRun, report: ScriptReport) => void;
  /** How long `stop` waits after SIGTERM before SIGKILL. @default 5000 */
  stopGraceMs?: number;
}

/**
 * Starts `external-script.js` as a real child process per job (env `PSI_CALLBACK_URL`,
 * `RUN_FOR_MS`, `PSI_REPORT_ID`) and stops it on request. Exposed to PSI as the in-process service
 * `script-runner` (see {@link ScriptRunner.service}).
 */
export class ScriptRunner {
  private readonly runs = new Map<number, ScriptRun & { child: ChildProcess }>();
  private readonly scriptPath: string;

  constructor(private readonly options: ScriptRunnerOptions = {}) {
    this.scriptPath = options.scriptPath ?? externalScriptPath();
  }

  /** The service PSI calls: `start` → `{ pid }` at once, `stop` → how the script ended. */
  service(): InProcessService {
    return {
      start: (payload) => this.start(payload as StartScriptRequest),
      stop: (payload) => this.stop((payload as { pid: number }).pid),
    };
  }

  /** A script this runner started, by pid. */
  run(pid: number): ScriptRun | undefined {
    return this.runs.get(pid);
  }

  start(request: StartScriptRequest): { pid: number } {
    const child = spawn(process.execPath, [this.scriptPath], {
      env: {
        PATH: process.env.PATH,
        PSI_CALLBACK_URL: request.callbackUrl,
        RUN_FOR_MS: String(request.runForMs),
        PSI_REPORT_ID: randomUUID(),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (child.pid === undefined) {
      throw new Error(`Could not start ${this.scriptPath} for job "${request.job}".`);
    }
    const exited = new Promise<ScriptExit>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const run = {
      job: request.job,
      pid: child.pid,
      callbackUrl: request.callbackUrl,
      reports: [] as ScriptReport[],
      exited,
      child,
    };
    this.runs.set(child.pid, run);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const report = parseReport(line);
      run.reports.push(report);
      this.options.onReport?.(run, report);
    });
    return { pid: child.pid };
  }

  /** SIGTERM (the script reports and exits), SIGKILL after the grace period; resolves on exit. */
  async stop(pid: number): Promise<StopScriptResult> {
    const run = this.runs.get(pid);
    if (!run) throw new Error(`No script with pid ${pid} was started by this runner.`);
    const wasRunning = run.child.exitCode === null && run.child.signalCode === null;
    if (wasRunning) run.child.kill('SIGTERM');
    const kill = setTimeout(() => run.child.kill('SIGKILL'), this.options.stopGraceMs ?? 5_000);
    const exit = await run.exited.finally(() => clearTimeout(kill));
    return { pid, wasRunning, exitCode: exit.code, signal: exit.signal };
  }

  /** Kills scripts still running and waits for every child to exit. */
  async close(): Promise<void> {
    for (const run of this.runs.values()) {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
    }
    await Promise.all([...this.runs.values()].map((run) => run.exited));
  }
}

/**
 * external-script.js is plain JavaScript that `tsc` does not copy: it lives beside this module in
 * the source folder, which is `../../long-running-script` when running from `samples/dist`.
 */
export function externalScriptPath(): string {
  const candidates = [
    path.join(__dirname, 'external-script.js'),
    path.resolve(__dirname, '../../long-running-script/external-script.js'),
  ];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error(`external-script.js not found in ${candidates.join(' or ')}.`);
  return found;
}

function parseReport(line: string): ScriptReport {
  try {
    const parsed = JSON.parse(line) as ScriptReport;
    if (typeof parsed === 'object' && parsed !== null && typeof parsed.event === 'string') {
      return parsed;
    }
  } catch {
    // not a report line
  }
  return { event: 'output', body: line };
}
