import type { MeterProvider, TracerProvider } from '@opentelemetry/api';

/**
 * Where PSI's spans and metrics go. PSI uses only `@opentelemetry/api`: with no SDK installed
 * (and no providers given) everything is a no-op and no trace context is stored.
 */
export interface ObservabilityOptions {
  /** @default the global tracer provider (`trace.getTracerProvider()`) */
  tracerProvider?: TracerProvider;
  /** @default the global meter provider (`metrics.getMeterProvider()`) */
  meterProvider?: MeterProvider;
  /**
   * How long the store gauges (open expectations, parked answers, dead letters, frozen
   * invocations, held guards) keep a reading: a scrape inside it reads no store. @default 5_000
   */
  gaugeCacheMs?: number;
}
