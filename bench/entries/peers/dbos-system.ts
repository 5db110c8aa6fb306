import { AsyncResource } from 'node:async_hooks';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { measureCell, type Answer, type PeerSystem, type WorkerConfig } from './cell';
import { countPgStatements, postgresPids, type PgModule } from './probes';

/**
 * DBOS Transact (v5 API) on its own PostgreSQL database. The equivalent of one PSI correlation:
 * `DBOS.startWorkflow(pingWorkflow)` → step `ping` (the service call; it triggers the answer) →
 * `DBOS.recv('pong', 60)` → the workflow returns, awaited through `getResult()`. The answer is
 * `DBOS.send(workflowID, message, 'pong')` from outside any workflow (one INSERT into
 * dbos.notifications, whose NOTIFY wakes the waiting recv).
 *
 * `early`: the step schedules the send on the next turn of the event loop, so the message is in
 * the table before the workflow reaches recv (DBOS buffers it as PSI parks it). `when-waiting`:
 * the send is issued once recv found nothing and starts to wait, hooked at DBOS's internal
 * `cancellableSleep` (only a waiting recv sleeps inside a workflow), so the message reaches a
 * workflow already waiting. The hook depends on DBOS internals (`internal/utils`): a later release
 * may move it; the early variant uses only the public API.
 *
 * The send runs in an AsyncResource created outside any workflow, so DBOS sees it as an outside
 * send, not one from the step (which it would run as a durable step of the workflow).
 */

/** The parts of the DBOS API used here. */
interface Dbos {
  readonly workflowID: string | undefined;
  registerStep<A extends unknown[], R>(
    fn: (...args: A) => Promise<R>,
    config: { name: string },
  ): (...args: A) => Promise<R>;
  registerWorkflow<A extends unknown[], R>(
    fn: (...args: A) => Promise<R>,
    config: { name: string },
  ): (...args: A) => Promise<R>;
  startWorkflow<A extends unknown[], R>(
    fn: (...args: A) => Promise<R>,
    params: { workflowID: string },
  ): (...args: A) => Promise<{ getResult(): Promise<R> }>;
  recv<T>(topic: string, timeoutSeconds: number): Promise<T | null>;
  send(destinationID: string, message: unknown, topic: string): Promise<void>;
  setConfig(config: Record<string, unknown>): void;
  launch(): Promise<void>;
  shutdown(): Promise<void>;
}

interface DbosUtils {
  cancellableSleep: (...args: unknown[]) => unknown;
}

export async function setUpDbos(config: WorkerConfig): Promise<PeerSystem> {
  const log = (message: string): void => void process.stderr.write(`[dbos] ${message}\n`);
  const fromPeers = createRequire(path.join(config.peersFolder ?? '', 'package.json'));
  const { DBOS } = fromPeers('@dbos-inc/dbos-sdk') as { DBOS: Dbos };
  const fromDbos = createRequire(fromPeers.resolve('@dbos-inc/dbos-sdk'));
  const pg = fromDbos('pg') as PgModule;
  const utils = fromPeers('@dbos-inc/dbos-sdk/internal/utils') as DbosUtils;

  const outside = new AsyncResource('external-echo-service');
  let sendFailures = 0;
  const answerLater = (workflowID: string): void =>
    void setImmediate(() =>
      outside.runInAsyncScope(() =>
        DBOS.send(workflowID, { answer: 'pong' }, 'pong').catch((error: unknown) => {
          sendFailures++;
          log(`send failed: ${String(error)}`);
        }),
      ),
    );

  // when-waiting: answer when recv found no message and starts to wait for one.
  const awaitingWait = new Set<string>();
  const originalSleep = utils.cancellableSleep;
  utils.cancellableSleep = function (this: unknown, ...args: unknown[]) {
    const id = DBOS.workflowID;
    if (id !== undefined && awaitingWait.delete(id)) answerLater(id);
    return originalSleep.apply(this, args);
  };

  const ping = DBOS.registerStep(
    async (answer: Answer): Promise<string> => {
      const id = DBOS.workflowID ?? '';
      if (answer === 'early') answerLater(id);
      else awaitingWait.add(id);
      return 'accepted';
    },
    { name: 'ping' },
  );
  const pingWorkflow = DBOS.registerWorkflow(
    async (answer: Answer): Promise<string> => {
      await ping(answer);
      const message = await DBOS.recv<{ answer: string }>('pong', 60);
      if (!message) throw new Error('no answer within 60 s');
      return message.answer;
    },
    { name: 'pingWorkflow' },
  );

  DBOS.setConfig({
    name: 'psi-bench-peers',
    systemDatabaseUrl: config.url,
    systemDatabasePoolSize: config.poolSize,
    logLevel: 'error',
    applicationVersion: '0.1.0',
  });
  await DBOS.launch();
  const statements = countPgStatements(pg);
  const database = config.database ?? '';
  let next = 0;

  return {
    async runCell(cell) {
      const failedSendsBefore = sendFailures;
      const result = await measureCell(
        cell,
        async () => {
          const workflowID = `peers-${process.pid}-${next++}`;
          const handle = await DBOS.startWorkflow(pingWorkflow, { workflowID })(cell.answer);
          return (await handle.getResult()) === 'pong';
        },
        { serverPids: () => postgresPids(database), statements },
      );
      return { ...result, failures: result.failures + sendFailures - failedSendsBefore };
    },
    async close() {
      utils.cancellableSleep = originalSleep;
      await DBOS.shutdown();
    },
  };
}
