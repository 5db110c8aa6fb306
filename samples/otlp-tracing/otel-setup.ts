import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  ConsoleMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** What the application installs once at start, and shuts down (flushing) at exit. */
export interface OtelSetup {
  shutdown(): Promise<void>;
}

/**
 * The OpenTelemetry SDK as an application wires it for PSI, registered globally (PSI uses the
 * global providers unless its `observability` option names others):
 *
 * - traces: a BatchSpanProcessor into the OTLP/HTTP exporter, which sends to
 *   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` (default
 *   http://localhost:4318/v1/traces: a local OpenTelemetry Collector, Jaeger or Grafana Tempo);
 * - context: AsyncLocalStorage, so spans your own code starts inside PSI's adapters and
 *   handlers nest under PSI's (PSI parents its own spans explicitly, it does not need it);
 * - metrics: a periodic reader; the console exporter here keeps the sample's dependencies to
 *   what the repository has. For OTLP metrics, install `@opentelemetry/exporter-metrics-otlp-http`
 *   and pass its `OTLPMetricExporter` instead.
 */
export function installOpenTelemetry(serviceName: string): OtelSetup {
  const resource = resourceFromAttributes({ 'service.name': serviceName });
  const tracerProvider = new BasicTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  const meterProvider = new MeterProvider({
    resource,
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new ConsoleMetricExporter(),
        exportIntervalMillis: 60_000,
      }),
    ],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  return {
    async shutdown() {
      await tracerProvider.shutdown(); // flushes the batch to the collector
      await meterProvider.shutdown(); // exports the metrics once more
    },
  };
}
