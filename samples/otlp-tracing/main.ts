import 'reflect-metadata';
import { runProcurement } from '../procurement/run-procurement';
import { installOpenTelemetry } from './otel-setup';

/**
 * PSI wired to an OTLP exporter: the procurement order of `npm run demo`, its spans sent to an
 * OpenTelemetry Collector (or Jaeger, Tempo) over OTLP/HTTP, its metrics printed at the end.
 * See README.md beside this file. Not run by the tests (it needs a collector to be useful).
 *
 *   docker run --rm -p 4318:4318 -p 16686:16686 jaegertracing/all-in-one   # UI on :16686
 *   npm run build && node samples/dist/otlp-tracing/main.js [--transport http]
 */
async function main(): Promise<void> {
  const endpoint =
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    `${process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318'}/v1/traces`;
  const otel = installOpenTelemetry('psi-procurement');
  try {
    const transport = process.argv.includes('--transport')
      ? process.argv[process.argv.indexOf('--transport') + 1]
      : 'in-process';
    if (transport !== 'in-process' && transport !== 'http')
      throw new Error(`--transport in-process|http (got ${transport})`);
    const run = await runProcurement({
      sqlitePath: process.env.PSI_SQLITE_PATH ?? '.psi/otlp-tracing-demo.sqlite',
      transport,
      print: (line) => console.log(line),
      // Nothing to pass: the coordinator uses the global providers installed above.
    });
    console.log(`\nInstance ${run.instanceId} ${run.final.status}.`);
  } finally {
    await otel.shutdown().then(
      () => console.log(`Spans sent to ${endpoint} (service.name psi-procurement).`),
      (error: unknown) => {
        console.error(
          `Could not send the spans to ${endpoint} (is a collector running?): ${error}`,
        );
        process.exitCode = 1;
      },
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
