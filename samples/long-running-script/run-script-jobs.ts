import { randomBytes, randomUUID } from 'node:crypto';
import { CallbackTokenService, HttpInboundServer, InProcessTransport } from '@psi/adapters';
import { Coordinator, PsiStore, type TraceEvent } from '@psi/core';
import { ReferenceEngine, type InstanceSnapshot } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import { SCRIPT_TIMEOUT_MS, StartScriptAdapter, StopScriptAdapter } from './script-job.adapters';
import { scriptJobProcess, SCRIPT_RUNNING } from './script-job.process';
import { ScriptRunner, type ScriptExit, type ScriptReport, type ScriptRun } from './script-runner';

export interface ScriptJob {
  name: string;
  /** How long its script works before reporting; longer than SCRIPT_TIMEOUT_MS: a runaway. */
  runForMs: number;
  /** Lifetime of the callback token. @default SCRIPT_TIMEOUT_MS + 60 s */
  tokenTtlMs?: number;
}

export interface ScriptJobResult {
  job: ScriptJob;
  instanceId: string;
  /** The end step reached: script-succeeded, script-failed or script-timed-out. */
  branch: string;
  final: InstanceSnapshot;
  /** What the script's callbacks were answered (from its stdout). */
  reports: ScriptReport[];
  exit: ScriptExit;
  /**
   * When `replayCallbacks`: the answer to a `done` report sent again after the job ended (200
   * `repeated` where `done` was taken before, 409 where the instance went elsewhere).
   */
  replay?: { status: number; body: unknown };
}

export interface ScriptJobsOptions {
  sqlitePath: string;
  jobs: ScriptJob[];
  /** Sends every job's callback once more after it ended, to show it is refused. @default false */
  replayCallbacks?: boolean;
  onTrace?: (event: TraceEvent) => void;
  onReport?: (run: ScriptRun, report: ScriptReport) => void;
}

/**
 * Runs each job as an instance of `script-job`: PSI starts the external script (a child process)
 * with a callback URL `<inbound server>/callbacks/<token>`, the token signed for that instance and
 * the wait state "script-running". The script POSTs its result there; the HttpInboundServer
 * signals the instance only if it is still at that wait state (else 409), and only while the
 * token lives (else 410). PSI's deadline catches scripts that do not report in time.
 */
export async function runScriptJobs(options: ScriptJobsOptions): Promise<ScriptJobResult[]> {
  const store = await PsiStore.open({ sqlitePath: options.sqlitePath });
  const engine = new ReferenceEngine({
    definitions: [scriptJobProcess],
    stateRepository: store.engineStates(),
  });
  // Real deployments load the keys from configuration; newest first, older ones still verify.
  const tokens = new CallbackTokenService({ keys: [{ id: 'k1', secret: randomBytes(32) }] });
  const runner = new ScriptRunner({ onReport: options.onReport });
  let coordinator: Coordinator | undefined;
  let inbound: HttpInboundServer | undefined;
  try {
    coordinator = await Coordinator.create({
      store,
      engine,
      registry: new StaticRegistry({
        'script-runner': { transport: 'in-process', address: 'script-runner' },
      }),
      transports: [new InProcessTransport().register('script-runner', runner.service())],
      adapters: [StartScriptAdapter, StopScriptAdapter],
      onTrace: options.onTrace,
    });
    inbound = new HttpInboundServer({ sink: coordinator, engine, tokens });
    const { url } = await inbound.start();
    await coordinator.start();

    const started = await Promise.all(
      options.jobs.map(async (job) => {
        const instanceId = `script-job-${job.name}-${randomUUID().slice(0, 8)}`;
        const token = tokens.issue({
          instanceId,
          waitState: SCRIPT_RUNNING,
          ttlMs: job.tokenTtlMs ?? SCRIPT_TIMEOUT_MS + 60_000,
        });
        const callbackUrl = `${url}/callbacks/${token}`;
        await engine.start(
          scriptJobProcess.id,
          { job: job.name, runForMs: job.runForMs, callbackUrl },
          { instanceId },
        );
        return { job, instanceId, callbackUrl };
      }),
    );
    const results: ScriptJobResult[] = [];
    for (const { job, instanceId, callbackUrl } of started) {
      const final = await engine.whenEnded(instanceId);
      const run = runner.run(Number(final.variables.scriptPid));
      if (!run) throw new Error(`Job "${job.name}" ended without a script (${final.status}).`);
      const exit = await run.exited; // its last report is in
      results.push({
        job,
        instanceId,
        branch: final.history.at(-1) ?? '',
        final,
        reports: run.reports,
        exit,
        replay: options.replayCallbacks ? await post(callbackUrl, 'done') : undefined,
      });
    }
    await coordinator.idle();
    return results;
  } finally {
    await inbound?.close();
    await coordinator?.close();
    await engine.stop();
    await runner.close();
    await store.close();
  }
}

async function post(url: string, event: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event, data: {} }),
  });
  return { status: response.status, body: (await response.json()) as unknown };
}
