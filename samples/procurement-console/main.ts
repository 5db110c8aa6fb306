import * as fs from 'node:fs';
import * as path from 'node:path';
import { startConsoleDemo } from './console-demo';

/**
 * `npm run sample:console`: the procurement demo with PSI's console mounted in the app; one
 * confirmation becomes a dead letter on purpose, and the demo waits until it is replayed, from
 * the CLI or from the console. Options: --port n (default 4100), --sqlite file, --jammed n.
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const value = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const sqlitePath = path.resolve(
    value('sqlite') ?? path.join('.psi', 'procurement-console.sqlite'),
  );
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${sqlitePath}${suffix}`, { force: true });
  const demo = await startConsoleDemo({
    sqlitePath,
    port: Number(value('port') ?? 4100),
    jammed: Number(value('jammed') ?? 1),
    print: (line) => console.log(line),
  });
  const cli = path.relative(process.cwd(), sqlitePath);
  console.log(`
Find the dead letter and replay it, from the CLI:
  npx psi dead-letters --cause expired --sqlite ${cli}
  npx psi dead-letters replay ${demo.jammed[0]?.deadLetterId ?? '<id>'} --reason "printer fixed" --sqlite ${cli}
or in the console: ${demo.consoleUrl}dead-letters?reason=expired&status=open → the letter → Replay.

Waiting for the replay (Ctrl-C stops the demo)…`);
  const stop = () => void demo.close().then(() => process.exit(130));
  process.once('SIGINT', stop);
  for (const order of demo.jammed) {
    const final = await demo.whenEnded(order.instanceId);
    console.log(
      `order ${order.orderNumber}: replayed, confirmed and booked (${String(final.variables.erpDocumentId)})`,
    );
  }
  process.off('SIGINT', stop);
  await demo.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
