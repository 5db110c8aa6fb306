import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { IsInt, IsNotEmpty, IsString, Min } from 'class-validator';
import { ScriptRunnerService } from './contracts';
import { SCRIPT_RUNNING } from './script-job.process';

/** How long a script may run before PSI takes the `timed-out` transition. */
export const SCRIPT_TIMEOUT_MS = 4_000;

/**
 * Starts the external script with its callback URL. The script reports by a guarded signal (its
 * token carries instance and wait state, no correlation key), straight to the engine, so the
 * answer handler below is not what completes the job: the expectation is there for its deadline.
 * If the instance is still at "script-running" after SCRIPT_TIMEOUT_MS, PSI claims the deadline
 * and signals `timed-out`; once the instance has moved on either way, the other side is refused
 * (the script's late report gets 409; a deadline after the job ended is cancelled with it).
 */
@ServiceAdapter({ step: 'start-script', service: 'script-runner' })
export class StartScriptAdapter {
  @Input() @IsString() @IsNotEmpty() job!: string;
  @Input() @IsInt() @Min(0) runForMs!: number;
  @Input() @IsString() @IsNotEmpty() callbackUrl!: string;

  @Output() scriptPid?: number;

  @UseService() runner!: ScriptRunnerService;

  async callService(): Promise<void> {
    const { pid } = await this.runner.start({
      job: this.job,
      runForMs: this.runForMs,
      callbackUrl: this.callbackUrl,
    });
    this.scriptPid = pid;
  }

  /** A script may also answer as a correlated message (`script-finished`); ours signals instead. */
  @OnResponse('script-finished', {
    waitState: SCRIPT_RUNNING,
    timeoutMs: SCRIPT_TIMEOUT_MS,
    timeoutTransition: 'timed-out',
  })
  finished(): string {
    return 'done';
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
