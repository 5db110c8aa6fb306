/** What the script runner needs to start the external script for one job. */
export interface StartScriptRequest {
  /** The job's name, for logs. */
  job: string;
  /** How long the script works before it reports (a stand-in for real work). */
  runForMs: number;
  /**
   * Where the script reports: PSI's `/callbacks/<token>`. The adapter puts a placeholder here
   * (`callbackUrlPlaceholder`); the transport (`withCallbackUrls`) mints the token as it sends,
   * so the token never reaches PSI's store.
   */
  callbackUrl: string;
}

/** How a stopped script ended. */
export interface StopScriptResult {
  pid: number;
  /** False when the script had already exited on its own. */
  wasRunning: boolean;
  exitCode: number | null;
  signal: string | null;
}

/**
 * Runs external scripts as child processes: `start` answers at once with the child's pid (the
 * script reports completion later, by itself, to its callback URL); `stop` ends a script and
 * answers once it exited.
 */
export abstract class ScriptRunnerService {
  abstract start(request: StartScriptRequest): Promise<{ pid: number }>;
  abstract stop(request: { pid: number }): Promise<StopScriptResult>;
}
