import 'reflect-metadata';
import { startKafkaMockCluster, type KafkaMockCluster } from '@psi/adapters/testing';
import { PsiError } from '@psi/core';
import { DemoUsageError, parseDemoArgs } from './demo-options';
import { DemoSetupError } from './demo-wiring';
import { runProcurement } from './run-procurement';
import { DemoTracing } from './span-tree';

/**
 * The procurement demo: the supplier's confirmation arrives while the order is still being
 * printed and archived, is parked in the SQLite store, and is delivered the moment the process
 * reaches "await-confirmation". Then the order goes into the ERP.
 *
 * `--transport in-process` (default) | `http` | `kafka` chooses how the supplier is reached;
 * see DEMO_USAGE in demo-options.ts.
 */
async function main(): Promise<void> {
  const args = parseDemoArgs(process.argv.slice(2), process.env);
  let mockCluster: KafkaMockCluster | undefined;
  let brokers = args.brokers;
  if (args.transport === 'kafka' && !brokers) {
    // No cluster named: start librdkafka's mock cluster (node-rdkafka, built by `npm ci`).
    mockCluster = await startKafkaMockCluster();
    brokers = mockCluster.brokers;
    console.log(
      `No KAFKA_BROKERS or --brokers: started an embedded mock Kafka cluster (librdkafka's) at ` +
        `${brokers.join(',')}; it stops when the demo ends.\n`,
    );
  }
  const tracing = args.trace ? new DemoTracing() : undefined;
  const run = await runProcurement({
    sqlitePath: process.env.PSI_SQLITE_PATH ?? '.psi/procurement-demo.sqlite',
    transport: args.transport,
    kafka: brokers ? { brokers } : undefined,
    print: (line) => console.log(line),
    ...(tracing ? { observability: { tracerProvider: tracing.tracerProvider } } : {}),
  }).finally(() => mockCluster?.stop());
  const { final } = run;
  console.log(`\nInstance ${final.status}; steps: ${final.history.join(' → ')}`);
  console.log('Final variables:');
  for (const [name, value] of Object.entries(final.variables))
    console.log(`  ${name.padEnd(15)} ${JSON.stringify(value)}`);
  console.log(`Dead letters of this instance: ${run.deadLetters.length}`);
  if (tracing) {
    console.log('\nSpans (OpenTelemetry), children under parents, ↪ = link:');
    for (const line of tracing.tree()) console.log(`  ${line}`);
    await tracing.shutdown();
  }
  if (final.status !== 'completed') process.exitCode = 1;
}

main().catch((error: unknown) => {
  if (error instanceof DemoUsageError) {
    console.error(error.message);
    process.exitCode = 2;
    return;
  }
  // These errors say what went wrong; a stack trace would bury that.
  const known = PsiError.is(error) || error instanceof DemoSetupError;
  console.error(known ? `Demo failed: ${(error as Error).message}` : error);
  process.exitCode = 1;
});
