import 'reflect-metadata';
import { InProcessTransport } from '@psi/adapters';
import { Coordinator, PsiStore } from '@psi/core';
import { ReferenceEngine } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import {
  nextTurnEchoService,
  echoWhenWaitingService,
  PingAdapter,
  pingProcess,
  PingRunner,
  PingWhenWaitingAdapter,
  pingWhenWaitingProcess,
} from '../ping-process';
import { measureCell, type CellResult, type PeerSystem, type WorkerConfig } from './cell';
import { psiPg } from './databases';
import { countPgStatements, postgresPids } from './probes';

/**
 * PSI's side: the bench's full correlation on PostgreSQL (as postgres-node.ts builds it), with
 * both ping processes deployed on one node kept across cells and rounds. One operation =
 * `engine.start` → service step → invoke (expectation + outbox committed) → in-process dispatch
 * → the echo answers → receive (dedupe, match, park or deliver) → claim → handler → engine
 * signal → instance ended. `early`: the echo answers on the next turn of the event loop, before
 * the instance waits (parked, then released); `when-waiting`: once the engine reports the
 * instance at its wait state.
 */
export async function setUpPsi(config: WorkerConfig): Promise<PeerSystem> {
  const log = (message: string): void => void process.stderr.write(`[psi] ${message}\n`);
  const store = await PsiStore.open({
    url: config.url,
    schema: 'psi_peers',
    poolSize: config.poolSize,
  });
  const engine = new ReferenceEngine({
    definitions: [pingProcess, pingWhenWaitingProcess],
    stateRepository: store.engineStates(),
  });
  const whenWaiting = echoWhenWaitingService(engine, log);
  const transport = new InProcessTransport().register('echo', {
    ...nextTurnEchoService(log),
    ...whenWaiting.service,
  });
  // Wired by hand, not with @psi/testing: the bench compares this configuration with its peers.
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({ echo: { transport: 'in-process', address: 'echo' } }),
    transports: [transport],
    adapters: [PingAdapter, PingWhenWaitingAdapter],
    nodeId: 'peers-psi',
    logger: {
      warn: () => undefined,
      error: (message, detail) => log(`${message} ${JSON.stringify(detail)}`),
    },
  });
  await coordinator.start();
  const runners = {
    early: new PingRunner(engine, pingProcess.id),
    'when-waiting': new PingRunner(engine, pingWhenWaitingProcess.id),
  };
  const statements = countPgStatements(psiPg());
  const database = config.database ?? '';
  let next = 0;

  return {
    async runCell(cell): Promise<CellResult> {
      const runner = runners[cell.answer];
      let parkedBefore = 0;
      const result = await measureCell(
        cell,
        async () => (await runner.correlate(`peers-${next++}`)) === 'completed',
        {
          beforeWindow: async () => {
            await coordinator.idle(); // warm-up answers still in flight
            parkedBefore = coordinator.stats().parked;
          },
          serverPids: () => postgresPids(database),
          statements,
        },
      );
      await coordinator.idle();
      return { ...result, parked: coordinator.stats().parked - parkedBefore };
    },
    async close() {
      for (const runner of Object.values(runners)) runner.stop();
      whenWaiting.stop();
      await coordinator.close();
      await engine.stop();
      await store.close();
    },
  };
}
