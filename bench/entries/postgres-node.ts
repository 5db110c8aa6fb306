import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import { InProcessTransport } from '@psi/adapters';
import { Coordinator, PsiStore, type EngineStateRepository } from '@psi/core';
import { ReferenceEngine } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import { runClosedLoop, type ClosedLoop, type ClosedLoopResult } from './closed-loop';
import { echoService, PingAdapter, pingProcess, PingRunner } from './ping-process';

/**
 * One PSI node for the PostgreSQL benchmark: store on a schema, reference engine on the store,
 * coordinator with an in-process service that answers every request asynchronously. A full
 * correlation = start → service step → invoke (expectation + outbox commit) → dispatch → answer
 * → receive (dedupe, match, claim or park) → handler → engine signal → end.
 *
 * Run as a script (`node postgres-node.js`) it is a child of the postgres entry: it warms up,
 * says `ready`, runs one closed loop when told `go`, reports the result and exits.
 */

export interface PgNode {
  /** One full correlation; resolves when the instance ended. */
  correlate(): Promise<void>;
  close(): Promise<void>;
}

export async function startPgNode(options: {
  url: string;
  schema: string;
  nodeId: string;
  poolSize: number;
  /** PostgreSQL group-commit lanes; the store's default when absent. */
  postgresLanes?: number;
  /** Waiting units that open a further lane; the store's default when absent. */
  postgresLaneBacklog?: number;
  log: (message: string) => void;
}): Promise<PgNode> {
  const store = await PsiStore.open({
    url: options.url,
    schema: options.schema,
    poolSize: options.poolSize,
    postgresLanes: options.postgresLanes,
    postgresLaneBacklog: options.postgresLaneBacklog,
  });
  const engine = new ReferenceEngine({
    definitions: [pingProcess],
    stateRepository: ownedStates(store.engineStates(), `${options.nodeId}-`),
  });
  const transport = new InProcessTransport().register('echo', echoService(options.log));
  // Wired by hand, not with @psi/testing: one node of a multi-process bench on a shared schema.
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({ echo: { transport: 'in-process', address: 'echo' } }),
    transports: [transport],
    adapters: [PingAdapter],
    nodeId: options.nodeId,
    logger: {
      warn: () => undefined,
      error: (message, detail) =>
        options.log(`[psi ${options.nodeId}] ${message} ${String(detail)}`),
    },
  });
  await coordinator.start();
  const runner = new PingRunner(engine);
  let next = 0;
  return {
    async correlate() {
      await runner.correlate(`${options.nodeId}-${next++}`);
    },
    async close() {
      runner.stop();
      await coordinator.close();
      await engine.stop();
      await store.close();
    },
  };
}

/**
 * Each node owns the instances it starts (ids prefixed with its node id): their state is persisted
 * in the shared store, but only the owner's engine sees them. The answers come back to the node
 * that sent the request (as a Kafka consumer group keyed by instance would route them), so every
 * correlation stays on one node and the nodes share only the database.
 */
function ownedStates(shared: EngineStateRepository, prefix: string): EngineStateRepository {
  const own = (id: string): boolean => id.startsWith(prefix);
  return {
    save: (engine, id, state, index) => shared.save(engine, id, state, index),
    load: (engine, id) => (own(id) ? shared.load(engine, id) : Promise.resolve(undefined)),
    delete: (engine, id) => shared.delete(engine, id),
    list: async (engine, filter) => (await shared.list(engine, filter)).filter(own),
  };
}

/** Messages between the postgres entry and its child nodes. */
export type ParentMessage = { cmd: 'go'; loop: ClosedLoop };
export type ChildMessage =
  | { type: 'ready' }
  | { type: 'result'; result: ClosedLoopResult }
  | { type: 'failed'; message: string };

async function child(): Promise<void> {
  const send = (message: ChildMessage): void => void process.send?.(message);
  const log = (message: string): void => void process.stderr.write(`${message}\n`);
  const node = await startPgNode({
    url: process.env.PSI_URL ?? '',
    schema: process.env.PSI_SCHEMA ?? 'public',
    nodeId: process.env.NODE_ID ?? `node-${process.pid}`,
    poolSize: Number(process.env.POOL_SIZE ?? 10),
    log,
  });
  // Warm up (connections, JIT, plans) before saying ready, so all nodes measure the same window.
  const concurrency = Number(process.env.CONCURRENCY ?? 64);
  await runClosedLoop(
    { concurrency, warmup: Number(process.env.WARMUP ?? 200), operations: 0, maxSeconds: 0 },
    () => node.correlate(),
  );
  send({ type: 'ready' });
  const command = await new Promise<ParentMessage>((resolve) =>
    process.once('message', (message) => resolve(message as ParentMessage)),
  );
  const t0 = performance.now();
  const result = await runClosedLoop(command.loop, () => node.correlate());
  log(
    `  ${process.env.NODE_ID}: ${result.operations} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  send({ type: 'result', result });
  await node.close();
  process.disconnect();
}

if (require.main === module) {
  child().catch((error: unknown) => {
    process.send?.({ type: 'failed', message: String(error) } satisfies ChildMessage);
    process.exitCode = 1;
  });
}
