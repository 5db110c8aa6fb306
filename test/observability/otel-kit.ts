import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import {
  AggregationTemporality,
  MeterProvider,
  MetricReader,
  type DataPoint,
  type Histogram,
} from '@opentelemetry/sdk-metrics';
import type { ObservabilityOptions } from '@psi/core';

/** A metric reader that exports nothing: tests collect from it when they look. */
class CollectingReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** One SDK per "process": in-memory spans, metrics collected on demand. */
export class OtelKit {
  readonly spans = new InMemorySpanExporter();
  readonly tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(this.spans)],
  });
  private readonly reader = new CollectingReader();
  readonly meterProvider = new MeterProvider({ readers: [this.reader] });

  options(gaugeCacheMs = 0): ObservabilityOptions {
    return {
      tracerProvider: this.tracerProvider,
      meterProvider: this.meterProvider,
      gaugeCacheMs,
    };
  }

  finished(): ReadableSpan[] {
    return this.spans.getFinishedSpans();
  }

  /** The finished span named `name` (exactly one). */
  one(name: string): ReadableSpan {
    const found = this.finished().filter((s) => s.name === name);
    if (found.length !== 1)
      throw new Error(`${found.length} spans named "${name}": ${this.names().join(', ')}`);
    return found[0];
  }

  names(): string[] {
    return this.finished().map((s) => s.name);
  }

  /** Every data point of every metric, by metric name. */
  async collect(): Promise<Map<string, Array<DataPoint<number | Histogram>>>> {
    const { resourceMetrics, errors } = await this.reader.collect();
    if (errors.length > 0) throw errors[0];
    const out = new Map<string, Array<DataPoint<number | Histogram>>>();
    for (const scope of resourceMetrics.scopeMetrics)
      for (const metric of scope.metrics)
        out.set(metric.descriptor.name, metric.dataPoints as Array<DataPoint<number | Histogram>>);
    return out;
  }

  /** The value of a counter or gauge for the data point whose attributes include `where`. */
  async value(name: string, where: Record<string, unknown> = {}): Promise<number> {
    const points = (await this.collect()).get(name) ?? [];
    const matching = points.filter((p) =>
      Object.entries(where).every(([k, v]) => p.attributes[k] === v),
    );
    return matching.reduce((sum, p) => sum + (p.value as number), 0);
  }

  /** How many values a histogram recorded. */
  async histogramCount(name: string): Promise<number> {
    const points = (await this.collect()).get(name) ?? [];
    return points.reduce((sum, p) => sum + (p.value as Histogram).count, 0);
  }

  async shutdown(): Promise<void> {
    await this.tracerProvider.shutdown();
    await this.meterProvider.shutdown();
  }
}

/** The parent span id of a finished span (SDK 2.x keeps the parent's context). */
export function parentId(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

export function linkedIds(span: ReadableSpan): string[] {
  return span.links.map((l) => l.context.spanId);
}
