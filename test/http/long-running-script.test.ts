/**
 * The seeds' "long-running external script" scenario, over real HTTP on loopback: PSI starts a
 * script through HttpTransport, hands it a callback URL with a signed token, and the script later
 * reports completion to the HttpInboundServer. Only the packages' public entry points are used.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AdaptersErrorCode,
  CallbackTokenService,
  HttpInboundServer,
  HttpTransport,
} from '@psi/adapters';
import {
  EngineSignalRejectedError,
  InstanceNotFoundError,
  PsiErrorCode,
  type InboundMessage,
  type InboundSink,
  type ProcessEngine,
  type ReceiveOutcome,
  type SignalOptions,
} from '@psi/core';
import { Agent, request } from 'undici';

/** One instance waiting in `scriptRunning`; `done` moves it to `archive`, `failed` to `repair`. */
class ScriptProcessEngine implements ProcessEngine {
  readonly name = 'script-process';
  readonly states = new Map<string, string[]>();
  readonly variables = new Map<string, Record<string, unknown>>();
  async getVariables(id: string): Promise<Record<string, unknown>> {
    return this.variables.get(id) ?? {};
  }
  async setVariables(id: string, variables: Record<string, unknown>): Promise<void> {
    this.variables.set(id, { ...this.variables.get(id), ...variables });
  }
  async getWaitStates(id: string): Promise<readonly string[]> {
    return this.states.get(id) ?? [];
  }
  async signal(id: string, waitState: string, options: SignalOptions = {}): Promise<void> {
    const states = this.states.get(id);
    if (!states) throw new InstanceNotFoundError(id);
    if (!states.includes(waitState)) throw new EngineSignalRejectedError(id, waitState, states);
    await this.setVariables(id, options.variables ?? {});
    this.states.set(id, [options.transition === 'failed' ? 'repair' : 'archive']);
  }
  subscribe(): () => void {
    return () => {};
  }
}

/** Stands in for the coordinator: keeps every message and says it was delivered. */
class CollectingSink implements InboundSink {
  readonly messages: InboundMessage[] = [];
  async receive(message: InboundMessage): Promise<ReceiveOutcome> {
    this.messages.push(message);
    return { status: 'delivered', instanceId: 'i-1', expectationId: `x-${this.messages.length}` };
  }
}

/** The external script runner: accepts `run` with 202 and remembers the callback URL. */
class ScriptRunner {
  readonly runs: Array<{ callbackUrl: string; correlationKey: string }> = [];
  private readonly server: Server = createServer((req, res) => {
    readJson(req).then(
      (body) => {
        const { payload } = body as { payload: { callbackUrl: string } };
        this.runs.push({
          callbackUrl: payload.callbackUrl,
          correlationKey: String(req.headers['x-psi-correlation-key']),
        });
        res.writeHead(202).end();
      },
      () => res.writeHead(400).end(),
    );
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/scripts`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

describe('long-running external script over HTTP', () => {
  const script = new Agent();
  let engine: ScriptProcessEngine;
  let sink: CollectingSink;
  let transport: HttpTransport;
  let inbound: HttpInboundServer;
  let inboundUrl: string;
  let runner: ScriptRunner;
  let runnerAddress: string;
  let clock: number;
  const tokens = new CallbackTokenService({
    keys: [
      { id: 'k2', secret: randomBytes(32) },
      { id: 'k1', secret: randomBytes(32) },
    ],
    now: () => clock,
  });

  /** What a script does when it finishes: POST its result to the callback URL. */
  async function report(
    callbackUrl: string,
    body: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await request(callbackUrl, {
      method: 'POST',
      dispatcher: script,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return {
      status: response.statusCode,
      body: (await response.body.json()) as Record<string, unknown>,
    };
  }

  /** PSI's side of "start the script": issue the token, then dispatch through HttpTransport. */
  async function startScript(
    correlated: boolean,
  ): Promise<{ callbackUrl: string; correlationKey: string }> {
    const correlationKey = `corr-${Math.random().toString(36).slice(2)}`;
    const token = tokens.issue({
      instanceId: 'i-1',
      waitState: 'scriptRunning',
      ...(correlated ? { correlationKey } : {}),
      ttlMs: 60_000,
    });
    const result = await transport.send(
      {
        requestId: `req-${correlationKey}`,
        correlationKey,
        service: 'script-runner',
        operation: 'run',
        payload: { script: 'reindex.sh', callbackUrl: `${inboundUrl}/callbacks/${token}` },
      },
      { service: 'script-runner', transport: 'http', address: runnerAddress, timeoutMs: 2_000 },
    );
    expect(result).toEqual({ kind: 'accepted' });
    const run = runner.runs.at(-1)!;
    expect(run.correlationKey).toBe(correlationKey);
    return run;
  }

  beforeEach(async () => {
    clock = Date.now();
    engine = new ScriptProcessEngine();
    engine.states.set('i-1', ['scriptRunning']);
    sink = new CollectingSink();
    transport = new HttpTransport();
    await transport.start(sink);
    inbound = new HttpInboundServer({
      sink: transport.inboundSink,
      engine,
      tokens,
      bearerToken: 'internal-only',
    });
    ({ url: inboundUrl } = await inbound.start());
    runner = new ScriptRunner();
    runnerAddress = await runner.start();
  });

  afterEach(async () => {
    await transport.stop();
    await inbound.close();
    await runner.close();
  });

  afterAll(async () => {
    await script.close();
  });

  it('signals the waiting instance with the named transition and the script`s variables', async () => {
    const { callbackUrl } = await startScript(false);

    const answer = await report(callbackUrl, { event: 'done', data: { exitCode: 0, rows: 1200 } });

    expect(answer.status).toBe(200);
    expect(engine.states.get('i-1')).toEqual(['archive']);
    expect(engine.variables.get('i-1')).toEqual({ exitCode: 0, rows: 1200 });
  });

  it('accepts the signal only once: a replayed callback finds the instance elsewhere (409)', async () => {
    const { callbackUrl } = await startScript(false);
    await report(callbackUrl, { event: 'done', data: { exitCode: 0 } });

    const replay = await report(callbackUrl, { event: 'failed', data: { exitCode: 1 } });

    expect(replay).toMatchObject({
      status: 409,
      body: { code: PsiErrorCode.EngineSignalRejected, currentStates: ['archive'] },
    });
    expect(engine.variables.get('i-1')).toEqual({ exitCode: 0 });
  });

  it('refuses a runaway script`s late report once the token expired (410), changing nothing', async () => {
    const { callbackUrl } = await startScript(false);
    clock += 60_000;

    const late = await report(callbackUrl, { event: 'done', data: { exitCode: 0 } });

    expect(late).toMatchObject({
      status: 410,
      body: { code: AdaptersErrorCode.CallbackTokenExpired },
    });
    expect(engine.states.get('i-1')).toEqual(['scriptRunning']);
  });

  it('refuses a tampered callback URL (401), changing nothing', async () => {
    const { callbackUrl } = await startScript(false);
    const tampered = callbackUrl.replace(/\.k2\./, '.k1.');

    const answer = await report(tampered, { event: 'done' });

    expect(answer).toMatchObject({
      status: 401,
      body: { code: AdaptersErrorCode.CallbackTokenInvalid },
    });
    expect(engine.states.get('i-1')).toEqual(['scriptRunning']);
  });

  it('hands a correlated report to the coordinator with the original request`s correlation key', async () => {
    const { callbackUrl, correlationKey } = await startScript(true);

    const answer = await report(callbackUrl, { event: 'scriptFinished', data: { exitCode: 0 } });

    expect(answer).toEqual({
      status: 202,
      body: { outcome: { status: 'delivered', instanceId: 'i-1', expectationId: 'x-1' } },
    });
    expect(sink.messages).toEqual([
      expect.objectContaining({
        event: 'scriptFinished',
        correlationKey,
        payload: { exitCode: 0 },
      }),
    ]);
    expect(engine.states.get('i-1')).toEqual(['scriptRunning']);
  });

  it('answers 503 to a correlated report while the transport is stopped, so the script retries', async () => {
    const { callbackUrl } = await startScript(true);
    await transport.stop();

    const answer = await report(callbackUrl, { event: 'scriptFinished', data: {} });

    expect(answer).toMatchObject({
      status: 503,
      body: { code: AdaptersErrorCode.InboundUnavailable },
    });
    expect(sink.messages).toHaveLength(0);
  });
});
