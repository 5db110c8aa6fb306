import type { TracerProvider } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';

/**
 * `--trace`: an OpenTelemetry SDK inside the demo, keeping the spans in memory, and the run
 * printed as a span tree at its end. A real application installs an exporter instead (see
 * samples/otlp-tracing).
 */
export class DemoTracing {
  private readonly exporter = new InMemorySpanExporter();
  readonly tracerProvider: TracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(this.exporter)],
  });

  /** The spans of the run as an indented tree: children under parents, links named. */
  tree(): string[] {
    return formatSpanTree(this.exporter.getFinishedSpans());
  }

  async shutdown(): Promise<void> {
    await (this.tracerProvider as BasicTracerProvider).shutdown();
  }
}

/**
 * One line per span, in start order under its parent; a span whose parent is not among them
 * (a root, or a context received from elsewhere) starts a tree. `↪ request: invoke …` names the
 * span a link points to.
 */
export function formatSpanTree(spans: readonly ReadableSpan[]): string[] {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  const children = new Map<string | undefined, ReadableSpan[]>();
  for (const span of spans) {
    const parent = span.parentSpanContext?.spanId;
    const key = parent !== undefined && byId.has(parent) ? parent : undefined;
    children.set(key, [...(children.get(key) ?? []), span]);
  }
  const start = (s: ReadableSpan): number => s.startTime[0] * 1e9 + s.startTime[1];
  const lines: string[] = [];
  const visit = (span: ReadableSpan, depth: number): void => {
    const pad = '  '.repeat(depth);
    const ms = (span.duration[0] * 1e3 + span.duration[1] / 1e6).toFixed(1);
    const outcome = span.attributes['psi.outcome'];
    lines.push(`${pad}${span.name}${outcome ? ` [${String(outcome)}]` : ''}  ${ms} ms`);
    for (const link of span.links) {
      const target = byId.get(link.context.spanId);
      const kind = String(link.attributes?.['psi.link'] ?? 'link');
      lines.push(`${pad}  ↪ ${kind}: ${target ? target.name : link.context.spanId}`);
    }
    const next = [...(children.get(span.spanContext().spanId) ?? [])].sort(
      (a, b) => start(a) - start(b),
    );
    for (const child of next) visit(child, depth + 1);
  };
  for (const root of [...(children.get(undefined) ?? [])].sort((a, b) => start(a) - start(b)))
    visit(root, 0);
  return lines;
}
