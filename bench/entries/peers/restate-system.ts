import * as http2 from 'node:http2';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { measureCell, type Answer, type PeerSystem, type WorkerConfig } from './cell';

/**
 * Restate's side: this worker serves the SDK endpoint (HTTP/2 on loopback, registered with the
 * server) and is the ingress client; restate-server is a separate process (restate-server.ts).
 * The equivalent of one PSI correlation: the ingress call `POST /pingWorkflow/<key>/run` (or the
 * `pingService` variant) → `ctx.awakeable()` → `ctx.run('ping')` (the service call; it triggers
 * the answer) → `await` the awakeable → the handler returns; the answer is
 * `resolveAwakeable(id)` through the ingress.
 *
 * `early`: the `ctx.run` body schedules the resolve on the next turn of the event loop (it
 * usually reaches the server before the handler awaits); `when-waiting`: the resolve is issued
 * right before the handler awaits the awakeable, after `ctx.run` was acknowledged.
 *
 * The SDK (1.17) calls `Promise.withResolvers`, which Node 22 brought; on Node 20 this worker
 * (only this one: each system runs in its own process) gets the few-line polyfill below.
 */

interface Awakeable<T> {
  id: string;
  promise: Promise<T>;
}
interface RestateContext {
  awakeable<T>(): Awakeable<T>;
  run<T>(name: string, action: () => Promise<T>): Promise<T>;
}
type Handler = (ctx: RestateContext, answer: Answer) => Promise<string>;
interface RestateSdk {
  workflow(definition: { name: string; handlers: { run: Handler } }): unknown;
  service(definition: { name: string; handlers: { ping: Handler } }): unknown;
  endpoint(): RestateEndpoint;
}
interface RestateEndpoint {
  bind(definition: unknown): RestateEndpoint;
  handler(): (request: http2.Http2ServerRequest, response: http2.Http2ServerResponse) => void;
}
interface Ingress {
  resolveAwakeable<T>(id: string, payload?: T): Promise<void>;
  workflowClient(
    definition: { name: string },
    key: string,
  ): { run(answer: Answer): Promise<string> };
  serviceClient(definition: { name: string }): { ping(answer: Answer): Promise<string> };
}
interface RestateClients {
  connect(options: { url: string }): Ingress;
}

function polyfillWithResolvers(): void {
  const promise = Promise as unknown as { withResolvers?: () => unknown };
  if (typeof promise.withResolvers === 'function') return;
  promise.withResolvers = () => {
    let resolve: ((value: unknown) => void) | undefined;
    let reject: ((reason: unknown) => void) | undefined;
    const created = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise: created, resolve, reject };
  };
}

export async function setUpRestate(config: WorkerConfig): Promise<PeerSystem> {
  polyfillWithResolvers();
  // The SDK logs every invocation at INFO: logging is not what is measured.
  process.env.RESTATE_LOGGING ??= 'WARN';
  const log = (message: string): void => void process.stderr.write(`[restate] ${message}\n`);
  const fromPeers = createRequire(path.join(config.peersFolder ?? '', 'package.json'));
  const restate = fromPeers('@restatedev/restate-sdk') as RestateSdk;
  const clients = fromPeers('@restatedev/restate-sdk-clients') as RestateClients;
  const ingress = clients.connect({ url: config.ingressUrl ?? '' });

  let resolveFailures = 0;
  const answerLater = (id: string): void =>
    void setImmediate(() =>
      ingress.resolveAwakeable(id, { answer: 'pong' }).catch((error: unknown) => {
        resolveFailures++;
        log(`resolve failed: ${String(error)}`);
      }),
    );
  const body: Handler = async (ctx, answer) => {
    const { id, promise } = ctx.awakeable<{ answer: string }>();
    await ctx.run('ping', async () => {
      if (answer === 'early') answerLater(id);
      return 'accepted';
    });
    if (answer !== 'early') answerLater(id);
    return (await promise).answer;
  };
  const endpoint = restate
    .endpoint()
    .bind(restate.workflow({ name: 'pingWorkflow', handlers: { run: body } }))
    .bind(restate.service({ name: 'pingService', handlers: { ping: body } }));
  const server = http2.createServer(endpoint.handler());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const registered = await fetch(`${config.adminUrl ?? ''}/deployments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ uri: `http://127.0.0.1:${port}`, force: true }),
  });
  if (!registered.ok) {
    throw new Error(`deployment registration: ${registered.status} ${await registered.text()}`);
  }
  await untilInvocable(ingress);

  const serverPid = config.serverPid ?? 0;
  let next = 0;
  return {
    async runCell(cell) {
      const failedBefore = resolveFailures;
      const call =
        cell.kind === 'service'
          ? () => ingress.serviceClient({ name: 'pingService' }).ping(cell.answer)
          : (key: string) => ingress.workflowClient({ name: 'pingWorkflow' }, key).run(cell.answer);
      const result = await measureCell(
        cell,
        async () => (await call(`peers-${process.pid}-${next++}`)) === 'pong',
        { serverPids: () => [serverPid] },
      );
      return { ...result, failures: result.failures + resolveFailures - failedBefore };
    },
    async close() {
      server.close();
    },
  };
}

/** The ingress knows a new deployment a moment after the admin API accepted it. */
async function untilInvocable(ingress: Ingress): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      last = await ingress.serviceClient({ name: 'pingService' }).ping('early');
      if (last === 'pong') return;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`pingService not invocable after 30 s: ${String(last)}`);
}
