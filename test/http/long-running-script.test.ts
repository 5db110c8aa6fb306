/**
 * The seeds' "long-running external script" scenario over real HTTP on loopback, on each store:
 * PSI starts a script through HttpTransport with a callback URL whose token is minted as the
 * request leaves (`withCallbackUrls`); the script reports to the HttpInboundServer. What a token
 * may reach (SECURITY.md): its instance, its wait state, one visit of it, its events, and what
 * the handler declares — nothing else.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AdaptersErrorCode,
  CallbackTokenService,
  callbackUrlPlaceholder,
  HttpInboundServer,
  HttpTransport,
  withCallbackUrls,
} from '@psi/adapters';
import { Input, OnResponse, Output, PsiErrorCode, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsInt, IsString, Min } from 'class-validator';
import { Agent, request } from 'undici';
import {
  describeEachStore,
  openHarness,
  useTempDir,
  waitUntil,
  type Harness,
} from '../correlation/fixtures';

jest.setTimeout(60_000);

class JobDone {
  @IsInt() @Min(0) rowsProcessed!: number;
}

abstract class JobRunner {
  abstract run(request: { job: string; callbackUrl: string }): Promise<void>;
}

/** Starts the job with a callback URL for `done` and `failed` at "job-running". */
@ServiceAdapter({ step: 'start-job', service: 'job-runner' })
class StartJobAdapter {
  @Input() @IsString() job!: string;
  @Output() rowsProcessed?: number;
  @UseService() runner!: JobRunner;

  async callService(): Promise<void> {
    await this.runner.run({
      job: this.job,
      callbackUrl: callbackUrlPlaceholder({
        waitState: 'job-running',
        events: ['done', 'failed'],
        ttlMs: 60_000,
      }),
    });
  }

  @OnResponse('done', { waitState: 'job-running', payload: JobDone })
  done(report: JobDone): string {
    this.rowsProcessed = report.rowsProcessed;
    return 'done';
  }
}

class Confirmation {
  @IsString() orderNumber!: string;
}

/** Another process, waiting for `confirmed` matched by business key (the order number). */
@ServiceAdapter({ step: 'send-order', service: 'supplier' })
class SendOrderAdapter {
  @Input() @IsString() orderNumber!: string;
  @Output() confirmedBy?: string;
  @UseService() supplier!: { place(order: { orderNumber: string }): Promise<void> };

  async callService(): Promise<void> {
    await this.supplier.place({ orderNumber: this.orderNumber });
  }

  @OnResponse('confirmed', {
    waitState: 'await-confirmation',
    payload: Confirmation,
    businessKey: { orderNumber: 'orderNumber' },
  })
  confirmed(): string {
    this.confirmedBy = 'supplier';
    return 'confirmed';
  }
}

const jobProcess = defineProcess({
  id: 'job',
  start: 'start-job',
  steps: {
    'start-job': { kind: 'service', next: 'prepare' },
    prepare: { kind: 'wait', transitions: { go: 'job-running' } },
    'job-running': { kind: 'wait', transitions: { done: 'review', failed: 'repair' } },
    review: { kind: 'wait', transitions: { again: 'start-job', close: 'closed' } },
    repair: { kind: 'end' },
    closed: { kind: 'end' },
  },
});

const orderProcess = defineProcess({
  id: 'order',
  start: 'send-order',
  steps: {
    'send-order': { kind: 'service', next: 'await-confirmation' },
    'await-confirmation': { kind: 'wait', transitions: { confirmed: 'done' } },
    done: { kind: 'end' },
  },
});

/** The external job runner: accepts `run` with 202 and remembers each callback URL it got. */
class RunnerServer {
  readonly runs: Array<{ job: string; callbackUrl: string; correlationKey: string }> = [];
  private readonly server: Server = createServer((req, res) => {
    readJson(req).then(
      (body) => {
        const { job, callbackUrl } = (body as { payload: { job: string; callbackUrl: string } })
          .payload;
        this.runs.push({
          job,
          callbackUrl,
          correlationKey: String(req.headers['x-psi-correlation-key']),
        });
        res.writeHead(202).end();
      },
      () => res.writeHead(400).end(),
    );
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
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

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

describeEachStore('callback tokens over HTTP', () => {
  const dir = useTempDir('psi-callback-');
  const client = new Agent();
  const bearerToken = randomBytes(24).toString('base64url');
  const tokens = new CallbackTokenService({ keys: [{ id: 'k1', secret: randomBytes(32) }] });
  let harness: Harness;
  let inbound: HttpInboundServer;
  let runner: RunnerServer;
  let http: HttpTransport;
  let messageIds = 0;

  beforeEach(async () => {
    runner = new RunnerServer();
    const runnerUrl = await runner.start();
    http = new HttpTransport();
    harness = await openHarness({
      file: dir.file(),
      definitions: [jobProcess, orderProcess],
      adapters: [StartJobAdapter, SendOrderAdapter],
      services: { supplier: { place: () => undefined } },
      registry: {
        'job-runner': { transport: 'http', address: runnerUrl },
        supplier: { transport: 'in-process', address: 'supplier' },
      },
      transports: [withCallbackUrls(http, { tokens, baseUrl: () => inbound.url })],
    });
    inbound = new HttpInboundServer({
      sink: harness.coordinator,
      engine: harness.engine,
      tokens,
      bearerToken,
    });
    await inbound.start();
  });

  afterEach(async () => {
    await inbound.close();
    await harness.close();
    await runner.close();
  });

  afterAll(() => client.close());

  async function post(
    url: string,
    body: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const response = await request(url, {
      method: 'POST',
      dispatcher: client,
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.statusCode, body: (await response.body.json()) as Answer['body'] };
  }

  /** A script's report: a fresh message id each time, as distinct reports have. */
  function report(callbackUrl: string, event: string, data: unknown): Promise<Answer> {
    return post(callbackUrl, { event, data }, { 'x-psi-message-id': `report-${++messageIds}` });
  }

  function signal(instanceId: string, body: unknown): Promise<Answer> {
    return post(`${inbound.url}/instances/${instanceId}/signal`, body, {
      authorization: `Bearer ${bearerToken}`,
    });
  }

  /** Starts a job, takes it to "job-running", and returns the callback URL its runner got. */
  async function runningJob(
    instanceId: string,
    variables: Record<string, unknown> = {},
  ): Promise<string> {
    await harness.engine.start('job', { job: instanceId, ...variables }, { instanceId });
    await harness.atStep(instanceId, 'prepare');
    expect(await signal(instanceId, { waitState: 'prepare', transition: 'go' })).toMatchObject({
      status: 200,
    });
    await harness.atStep(instanceId, 'job-running');
    return runner.runs.filter((r) => r.job === instanceId).at(-1)!.callbackUrl;
  }

  it('writes only what the handler declares and takes the transition the handler names', async () => {
    const callbackUrl = await runningJob('job-a', { secretVar: 'keep' });

    const answer = await report(callbackUrl, 'done', {
      rowsProcessed: 7,
      secretVar: 'pwned',
      psiTransition: 'failed',
    });

    expect(answer).toMatchObject({ status: 200, body: { outcome: { status: 'delivered' } } });
    const instance = await harness.atStep('job-a', 'review');
    expect(instance.variables).toEqual({ job: 'job-a', secretVar: 'keep', rowsProcessed: 7 });
  });

  it('refuses an event the token does not allow (403); nothing changes', async () => {
    const callbackUrl = await runningJob('job-a');

    const answer = await report(callbackUrl, 'again', { rowsProcessed: 1 });

    expect(answer).toMatchObject({
      status: 403,
      body: { code: AdaptersErrorCode.CallbackEventNotAllowed },
    });
    expect((await harness.engine.getInstance('job-a')).currentStep).toBe('job-running');
    expect(await harness.query('SELECT id FROM psi_dead_letter')).toEqual([]);
    expect(await harness.query('SELECT seq FROM psi_parked_message')).toEqual([]);
  });

  it('never answers another instance by business key, whatever the data says (403)', async () => {
    await runningJob('job-a');
    await harness.engine.start('order', { orderNumber: 'PO-B' }, { instanceId: 'order-b' });
    await harness.atStep('order-b', 'await-confirmation');
    // A token for job-a that (by the issuer's mistake) allows `confirmed`, which job-a's
    // invocation does not expect: it must not fall back to matching PO-B by its business key.
    const token = tokens.issue({
      instanceId: 'job-a',
      waitState: 'job-running',
      correlationKey: runner.runs[0]!.correlationKey,
      events: ['done', 'confirmed'],
      ttlMs: 60_000,
    });

    const answer = await report(`${inbound.url}/callbacks/${token}`, 'confirmed', {
      orderNumber: 'PO-B',
    });

    expect(answer).toMatchObject({
      status: 403,
      body: { code: PsiErrorCode.CallbackBindingViolated },
    });
    expect((await harness.engine.getInstance('order-b')).currentStep).toBe('await-confirmation');
    expect((await harness.engine.getInstance('job-a')).currentStep).toBe('job-running');
    expect(await harness.query('SELECT id FROM psi_dead_letter')).toEqual([]);
    expect(await harness.query('SELECT seq FROM psi_parked_message')).toEqual([]);
  });

  it('keeps an old token away from a later visit of the same wait state (409); the new one works', async () => {
    const first = await runningJob('job-a');
    expect(await report(first, 'done', { rowsProcessed: 1 })).toMatchObject({ status: 200 });
    await harness.atStep('job-a', 'review');
    expect(await signal('job-a', { waitState: 'review', transition: 'again' })).toMatchObject({
      status: 200,
    });
    await harness.atStep('job-a', 'prepare');
    expect(await signal('job-a', { waitState: 'prepare', transition: 'go' })).toMatchObject({
      status: 200,
    });
    await harness.atStep('job-a', 'job-running');
    const second = runner.runs.at(-1)!.callbackUrl;
    expect(second).not.toBe(first);

    const stale = await report(first, 'done', { rowsProcessed: 666 });

    expect(stale).toMatchObject({
      status: 409,
      body: { code: AdaptersErrorCode.CallbackLate, deadLetterId: expect.any(String) },
    });
    const waiting = await harness.engine.getInstance('job-a');
    expect(waiting.currentStep).toBe('job-running');
    expect(waiting.variables.rowsProcessed).toBe(1);
    expect(await report(second, 'done', { rowsProcessed: 2 })).toMatchObject({ status: 200 });
    expect((await harness.atStep('job-a', 'review')).variables.rowsProcessed).toBe(2);
  });

  it('gives /signal callers their own signal ids: one that names PSI`s cannot pre-empt the callback', async () => {
    await harness.engine.start('job', { job: 'job-a' }, { instanceId: 'job-a' });
    await harness.atStep('job-a', 'prepare');
    const callbackUrl = runner.runs[0]!.callbackUrl;
    // The id PSI will give the callback's delivery (an insider could read it from the store).
    const [expectation] = await harness.query<{ id: string }>(
      "SELECT id FROM psi_expectation WHERE \"instanceId\" = 'job-a' AND event = 'done'",
    );
    const psiSignalId = `psi:answer:${expectation!.id}`;

    expect(
      await signal('job-a', { waitState: 'prepare', transition: 'go', signalId: psiSignalId }),
    ).toMatchObject({ status: 200 });
    await harness.atStep('job-a', 'job-running');
    const answer = await report(callbackUrl, 'done', { rowsProcessed: 3 });

    expect(answer).toMatchObject({ status: 200, body: { outcome: { status: 'delivered' } } });
    expect((await harness.atStep('job-a', 'review')).variables.rowsProcessed).toBe(3);
    // A retried /signal is still recognised by its own id.
    expect(
      await signal('job-a', { waitState: 'prepare', transition: 'go', signalId: psiSignalId }),
    ).toMatchObject({ status: 200, body: { repeated: true } });
  });

  it('parks a report that comes before the instance waits for it, and delivers it then', async () => {
    await harness.engine.start('job', { job: 'job-a' }, { instanceId: 'job-a' });
    await harness.atStep('job-a', 'prepare');

    const early = await report(runner.runs[0]!.callbackUrl, 'done', { rowsProcessed: 4 });

    expect(early).toMatchObject({ status: 202, body: { outcome: { status: 'parked' } } });
    await signal('job-a', { waitState: 'prepare', transition: 'go' });
    await waitUntil(
      async () => (await harness.engine.getInstance('job-a')).currentStep === 'review',
      'the parked report is delivered',
    );
  });

  it('refuses data that fails the handler`s validation (422) and an expired or forged token', async () => {
    const callbackUrl = await runningJob('job-a');

    expect(await report(callbackUrl, 'done', { rowsProcessed: 'many' })).toMatchObject({
      status: 422,
      body: { code: AdaptersErrorCode.CallbackPayloadInvalid, deadLetterId: expect.any(String) },
    });
    const forged = callbackUrl.replace(/\.k1\.[\w-]+$/, `.k1.${'A'.repeat(43)}`);
    expect(await report(forged, 'done', { rowsProcessed: 1 })).toMatchObject({
      status: 401,
      body: { code: AdaptersErrorCode.CallbackTokenInvalid },
    });
    expect((await harness.engine.getInstance('job-a')).currentStep).toBe('job-running');
  });
});
