import { randomBytes, randomUUID } from 'node:crypto';
import {
  CallbackTokenService,
  HttpInboundServer,
  InProcessTransport,
  withCallbackUrls,
} from '@psi/adapters';
import { Coordinator, PsiStore, type TraceEvent } from '@psi/core';
import { ReferenceEngine, type InstanceSnapshot } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import { StartScriptAdapter, StopScriptAdapter } from './script-job.adapters';
import { scriptJobProcess } from './script-job.process';
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
  /** The callback URL the script got (token included; kept in memory only, for the retries). */
  callbackUrl: string;
  /**
   * When `replayCallbacks`: the answer to the script's last accepted report sent again, as a
   * script that did not see the first answer would (200 `repeated`).
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
 * with a callback URL `<inbound server>/callbacks/<token>`, the token minted as the request is
 * sent, for that instance, its visit of "script-running" and the events `done` and `failed`. The
 * script POSTs its result there; the HttpInboundServer hands it to the coordinator as an answer
 * bound to that visit (the handler writes what it declares; 409 once the instance moved on), and
 * only while the token lives (else 410). PSI's deadline catches scripts that do not report in time.
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
    // A sample program: it shows users how to wire PSI, so it does not use @psi/testing.
    coordinator = await Coordinator.create({
      store,
      engine,
      registry: new StaticRegistry({
        'script-runner': { transport: 'in-process', address: 'script-runner' },
      }),
      transports: [
        // Placeholders in what the adapter sends become callback URLs with a fresh token here.
        withCallbackUrls(new InProcessTransport().register('script-runner', runner.service()), {
          tokens,
          baseUrl: () => inbound?.url,
        }),
      ],
      adapters: [StartScriptAdapter, StopScriptAdapter],
      onTrace: options.onTrace,
    });
    // Callbacks carry their own credential; /messages needs this bearer token, which no one here
    // uses (a real deployment gives it to the services that post answers).
    inbound = new HttpInboundServer({
      sink: coordinator,
      tokens,
      bearerToken: randomBytes(24).toString('base64url'),
    });
    await inbound.start();
    await coordinator.start();

    const started = await Promise.all(
      options.jobs.map(async (job) => {
        const instanceId = `script-job-${job.name}-${randomUUID().slice(0, 8)}`;
        await engine.start(
          scriptJobProcess.id,
          {
            job: job.name,
            runForMs: job.runForMs,
            ...(job.tokenTtlMs !== undefined ? { tokenTtlMs: job.tokenTtlMs } : {}),
          },
          { instanceId },
        );
        return { job, instanceId };
      }),
    );
    const results: ScriptJobResult[] = [];
    for (const { job, instanceId } of started) {
      const final = await engine.whenEnded(instanceId);
      const run = runner.run(Number(final.variables.scriptPid));
      if (!run) throw new Error(`Job "${job.name}" ended without a script (${final.status}).`);
      const exit = await run.exited; // its last report is in
      const accepted = run.reports.filter((r) => r.status !== undefined && r.status < 300).at(-1);
      results.push({
        job,
        instanceId,
        branch: final.history.at(-1) ?? '',
        final,
        reports: run.reports,
        exit,
        callbackUrl: run.callbackUrl,
        replay: options.replayCallbacks && accepted ? await resend(run, accepted) : undefined,
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

/** Sends a report again exactly as the script sent it (same message id and data). */
async function resend(
  run: ScriptRun,
  report: ScriptReport,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(run.callbackUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(report.messageId ? { 'x-psi-message-id': report.messageId } : {}),
    },
    body: JSON.stringify({ event: report.event, data: report.data }),
  });
  return { status: response.status, body: (await response.json()) as unknown };
}
