import { callbackUrlPlaceholder } from '@psi/adapters';
import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { IsInt, IsNotEmpty, IsOptional, IsString, Min } from 'class-validator';
import { ScriptRunnerService } from './contracts';
import { SCRIPT_RUNNING } from './script-job.process';

/** How long a script may run before PSI takes the `timed-out` transition. */
export const SCRIPT_TIMEOUT_MS = 4_000;

/** What a script reports when it finished its work. */
export class ScriptDone {
  @IsInt() @Min(0) rowsProcessed!: number;
}

/** What a script reports when it gave up (stopped, crashed). */
export class ScriptFailed {
  @IsString() @IsNotEmpty() reason!: string;
}

/**
 * Starts the external script with its callback URL: a token for this invocation (one visit of
 * "script-running") that allows `done` and `failed`, minted when the request is sent. A report
 * is an answer like any other: the handler below runs, writes only its declared outputs and
 * names the transition. If neither comes within SCRIPT_TIMEOUT_MS, PSI claims the deadline and
 * takes `timed-out`; a report after that is refused (409) and kept as a dead letter.
 */
@ServiceAdapter({ step: 'start-script', service: 'script-runner' })
export class StartScriptAdapter {
  @Input() @IsString() @IsNotEmpty() job!: string;
  @Input() @IsInt() @Min(0) runForMs!: number;
  /** Lifetime of the callback token; by default the timeout and a minute. */
  @Input() @IsOptional() @IsInt() @Min(1) tokenTtlMs?: number;

  @Output() scriptPid?: number;
  @Output() rowsProcessed?: number;
  @Output() failureReason?: string;

  @UseService() runner!: ScriptRunnerService;

  async callService(): Promise<void> {
    const { pid } = await this.runner.start({
      job: this.job,
      runForMs: this.runForMs,
      callbackUrl: callbackUrlPlaceholder({
        waitState: SCRIPT_RUNNING,
        events: ['done', 'failed'],
        ttlMs: this.tokenTtlMs ?? SCRIPT_TIMEOUT_MS + 60_000,
      }),
    });
    this.scriptPid = pid;
  }

  @OnResponse('done', {
    waitState: SCRIPT_RUNNING,
    payload: ScriptDone,
    group: 'script-report',
    timeoutMs: SCRIPT_TIMEOUT_MS,
    timeoutTransition: 'timed-out',
  })
  done(report: ScriptDone): string {
    this.rowsProcessed = report.rowsProcessed;
    return 'done';
  }

  @OnResponse('failed', {
    waitState: SCRIPT_RUNNING,
    payload: ScriptFailed,
    group: 'script-report',
  })
  failed(report: ScriptFailed): string {
    this.failureReason = report.reason;
    return 'failed';
  }
}

/** Stops a runaway script once the timeout won; answers when the child process has exited. */
@ServiceAdapter({ step: 'stop-script', service: 'script-runner' })
export class StopScriptAdapter {
  @Input() @IsInt() scriptPid!: number;

  @Output() scriptWasRunning?: boolean;
  @Output() scriptExit?: string;

  @UseService() runner!: ScriptRunnerService;

  async callService(): Promise<void> {
    const stopped = await this.runner.stop({ pid: this.scriptPid });
    this.scriptWasRunning = stopped.wasRunning;
    this.scriptExit = stopped.signal ?? `exit code ${String(stopped.exitCode)}`;
  }
}
