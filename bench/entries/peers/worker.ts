import type { FromWorker, PeerSystem, ToWorker, WorkerConfig } from './cell';
import { setUpDbos } from './dbos-system';
import { setUpPsi } from './psi-system';
import { setUpRestate } from './restate-system';

/**
 * One system under test in its own Node process, so its CPU, heap and GC are its own: forked by
 * the peers entry, which sends `setup` once, then one `cell` at a time, then `close`. A peer's
 * packages are loaded only by its own set-up, so only its worker has them (and the Restate
 * polyfill).
 */
const systems: Record<
  Extract<ToWorker, { cmd: 'setup' }>['system'],
  (config: WorkerConfig) => Promise<PeerSystem>
> = { psi: setUpPsi, dbos: setUpDbos, restate: setUpRestate };

let system: PeerSystem | undefined;

const send = (message: FromWorker): void => void process.send?.(message);

process.on('message', (message: ToWorker) => {
  void handle(message).catch((error: unknown) =>
    send({
      type: 'failed',
      message: error instanceof Error ? (error.stack ?? error.message) : String(error),
    }),
  );
});

async function handle(message: ToWorker): Promise<void> {
  if (message.cmd === 'setup') {
    system = await systems[message.system](message.config);
    send({ type: 'ready' });
  } else if (message.cmd === 'cell') {
    if (!system) throw new Error('cell before setup');
    send({ type: 'result', result: await system.runCell(message.cell) });
  } else {
    await system?.close();
    send({ type: 'closed' });
    process.disconnect();
  }
}

// The entry is gone (killed, or done with this worker): nothing is left to measure.
process.on('disconnect', () => process.exit());

process.on('unhandledRejection', (error) => {
  process.stderr.write(`[peers worker ${process.pid}] unhandled rejection: ${String(error)}\n`);
});
