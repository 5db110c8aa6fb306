import { KafkaServiceHost, KafkaTransport, PsiKafkaHeader } from '@psi/adapters/kafka';
import { Input, OnResponse, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { ROOT_CONTEXT, SpanKind, trace, TraceFlags } from '@opentelemetry/api';
import { openHarness, useTempDir, type Harness } from '../correlation/fixtures';
import { fastOptions, uniqueName, useMockKafka, waitUntil } from '../kafka/kafka-test-kit';
import { linkedIds, OtelKit, parentId } from './otel-kit';

jest.setTimeout(40_000);

// W3C Trace Context through Kafka (the mock cluster), both ways: the request record carries the
// send span's traceparent header; answers carry the service's, and PSI's receive span hangs
// under it, one span per answer even when both answers come in one fetched batch.

abstract class Supplier {
  abstract placeOrder(request: { orderNumber: string }): Promise<void>;
}

@ServiceAdapter({ step: 'order', service: 'supplier' })
class OrderAdapter {
  @Input() orderNumber!: string;
  @UseService(Supplier) supplier!: Supplier;
  async callService(): Promise<void> {
    await this.supplier.placeOrder({ orderNumber: this.orderNumber });
  }
  @OnResponse('confirmed', { waitState: 'await-confirmation' })
  confirmed(): string {
    return 'confirmed';
  }
}

const orderProcess = defineProcess({
  id: 'order',
  start: 'order',
  steps: {
    order: { kind: 'service', next: 'await-confirmation' },
    'await-confirmation': { kind: 'wait', transitions: { confirmed: 'done' } },
    done: { kind: 'end' },
  },
});

describe('trace context over Kafka', () => {
  const kafka = useMockKafka();
  const temp = useTempDir('psi-otel-kafka-');
  let h: Harness | undefined;
  const kit = new OtelKit();
  const service = new OtelKit();
  afterAll(async () => {
    await kit.shutdown();
    await service.shutdown();
  });
  afterEach(async () => {
    await h?.close();
  });

  it('sends traceparent on request records and hangs each answer of a batch under its own', async () => {
    const requestTopic = uniqueName('supplier-requests');
    const replyTopic = uniqueName('psi-replies');
    await kafka.probe.ensureTopics([requestTopic, replyTopic]);
    const requests: Array<{ headers: Record<string, string>; correlationKey?: string }> = [];
    const host = new KafkaServiceHost({
      ...fastOptions(kafka.cluster),
      requestTopic,
      groupId: uniqueName('supplier'),
      onError: () => undefined,
      handler: async (request) => {
        requests.push({ headers: request.headers, correlationKey: request.correlationKey });
      },
    });
    kafka.cleanups.push(() => host.stop());
    await host.start();
    h = await openHarness({
      file: temp.file(),
      definitions: [orderProcess],
      adapters: [OrderAdapter],
      registry: {
        supplier: { transport: 'kafka', address: requestTopic, replyAddress: replyTopic },
      },
      transports: [
        new KafkaTransport({
          ...fastOptions(kafka.cluster),
          groupId: uniqueName('psi'),
          replyTopics: [replyTopic],
        }),
      ],
      coordinator: { observability: kit.options() },
    });
    const first = await h.engine.start('order', { orderNumber: 'PO-1' });
    const second = await h.engine.start('order', { orderNumber: 'PO-2' });
    await h.atStep(first, 'await-confirmation');
    await h.atStep(second, 'await-confirmation');
    await waitUntil(() => requests.length === 2, 'the supplier got both requests');

    // PSI → service: the request record's traceparent is its send span (PRODUCER).
    const sends = kit.finished().filter((s) => s.name === 'send supplier');
    expect(sends.map((s) => s.kind)).toEqual([SpanKind.PRODUCER, SpanKind.PRODUCER]);
    for (const request of requests) {
      const send = sends.find(
        (s) => s.attributes['messaging.message.conversation_id'] === request.correlationKey,
      )!;
      expect(request.headers.traceparent).toBe(
        `00-${send.spanContext().traceId}-${send.spanContext().spanId}-01`,
      );
    }

    // Service → PSI: both answers in one producer.send (one record batch), each with the
    // traceparent of the service span that handled its request.
    const answers = requests.map((request, n) => {
      const [, traceId, spanId] = request.headers.traceparent.split('-');
      const span = service.tracerProvider.getTracer('supplier').startSpan(
        `supplier handles ${n}`,
        { kind: SpanKind.CONSUMER },
        trace.setSpanContext(ROOT_CONTEXT, {
          traceId,
          spanId,
          traceFlags: TraceFlags.SAMPLED,
          isRemote: true,
        }),
      );
      span.end();
      const own = span.spanContext();
      return {
        span,
        message: {
          key: request.correlationKey!,
          partition: 0, // one partition: the consumer fetches both in one batch
          value: JSON.stringify({ event: 'confirmed', payload: {} }),
          headers: {
            [PsiKafkaHeader.CorrelationKey]: request.correlationKey!,
            [PsiKafkaHeader.MessageId]: `answer-${n}`,
            traceparent: `00-${own.traceId}-${own.spanId}-01`,
          },
        },
      };
    });
    await kafka.probe.produce(
      replyTopic,
      answers.map((a) => a.message),
    );
    await h.engine.whenEnded(first);
    await h.engine.whenEnded(second);
    await h.coordinator.idle();

    const receives = kit.finished().filter((s) => s.name === 'receive confirmed');
    expect(receives).toHaveLength(2);
    for (const { span, message } of answers) {
      const receive = receives.find(
        (r) =>
          r.attributes['messaging.message.conversation_id'] ===
          message.headers[PsiKafkaHeader.CorrelationKey],
      )!;
      expect(receive.kind).toBe(SpanKind.CONSUMER);
      expect(receive.attributes['messaging.system']).toBe('kafka');
      expect(parentId(receive)).toBe(span.spanContext().spanId);
      expect(receive.spanContext().traceId).toBe(span.spanContext().traceId);
      const send = sends.find(
        (s) => s.attributes['messaging.message.conversation_id'] === message.key,
      )!;
      expect(linkedIds(receive)).toEqual([parentId(send)]);
    }
  });
});
