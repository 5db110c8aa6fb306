import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { emptyStats } from '../runtime/coordinator-stats';
import { Instrumentation } from './instrumentation';
import type { TracedMessage } from './span-attributes';

const SENDER = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

function message(): TracedMessage {
  return {
    messageId: 'm-1',
    event: 'pong',
    correlationKey: 'k-1',
    sender: 'in-process',
    traceParent: null,
    traceState: null,
  };
}

function sdk(): { provider: BasicTracerProvider; spans: InMemorySpanExporter } {
  const spans = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  return { provider, spans };
}

describe('Instrumentation without a tracer provider', () => {
  afterEach(() => trace.disable());

  it('runs the work without spans, still counts, and keeps the sender context on the answer', async () => {
    const counts = emptyStats();
    const instrumentation = new Instrumentation({}, counts, () => 0);
    const answer = message();
    let headers: unknown;
    await instrumentation.invoke(
      { id: 'i', instanceId: 'n', step: 's', service: 'echo', correlationKey: 'k-1' },
      async (invokeTrace) => {
        expect(invokeTrace.stored).toEqual({ traceParent: null, traceState: null });
        await instrumentation.send(
          invokeTrace,
          { requestId: 'r', service: 'echo', operation: 'ping', correlationKey: 'k-1' },
          invokeTrace.stored,
          'in-process',
          async (traceHeaders) => {
            headers = traceHeaders;
            return { kind: 'accepted' };
          },
        );
        return { status: 'waiting' };
      },
    );
    expect(headers).toEqual({});
    const outcome = await instrumentation.receive(answer, { traceparent: SENDER }, async () => {
      instrumentation.parked(answer, null, '1');
      return { status: 'parked', parkedId: '1' };
    });
    expect(outcome).toEqual({ status: 'parked', parkedId: '1' });
    expect(answer.traceParent).toBe(SENDER);
    expect(counts.received).toBe(1);
    expect(counts.parked).toBe(1);
  });

  it('traces once a global provider is registered after it was made', async () => {
    const instrumentation = new Instrumentation({}, emptyStats(), () => 0);
    const { provider, spans } = sdk();
    trace.setGlobalTracerProvider(provider);
    const answer = message();
    await instrumentation.receive(answer, { traceparent: SENDER }, async () => ({
      status: 'parked',
      parkedId: '1',
    }));
    const [receive] = spans.getFinishedSpans();
    expect(receive.name).toBe('receive pong');
    expect(receive.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(receive.attributes).toMatchObject({
      'messaging.message.conversation_id': 'k-1',
      'psi.event': 'pong',
      'psi.outcome': 'parked',
    });
    expect(receive.attributes).not.toHaveProperty('psi.dead_letter.reason');
    expect(answer.traceParent).toContain(receive.spanContext().spanId);
  });
});
