import type { InProcessCallContext } from '@psi/adapters';
import { Input, OnResponse, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { SpanKind } from '@opentelemetry/api';
import { IsString } from 'class-validator';
import { describeEachStore, openHarness, useTempDir, type Harness } from '../correlation/fixtures';
import { linkedIds, OtelKit, parentId } from './otel-kit';

// The spans of an order whose answer comes early (parked, released, delivered), after a
// restart (a new coordinator on the same store), and by a dead-letter replay: each delivery
// links to the invoke span that sent the request, through the context stored with it.

class Confirmation {
  @IsString() confirmationId!: string;
}

abstract class Supplier {
  abstract placeOrder(request: { orderNumber: string }): Promise<void>;
}

let failNextHandler = false;

@ServiceAdapter({ step: 'order', service: 'supplier' })
class OrderAdapter {
  @Input() @IsString() orderNumber!: string;
  @UseService(Supplier) supplier!: Supplier;
  async callService(): Promise<void> {
    await this.supplier.placeOrder({ orderNumber: this.orderNumber });
  }
  @OnResponse('confirmed', { waitState: 'await-confirmation', payload: Confirmation })
  confirmed(): string {
    if (failNextHandler) {
      failNextHandler = false;
      throw new Error('handler down');
    }
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

describeEachStore('tracing', () => {
  const temp = useTempDir('psi-tracing-');
  const open: Harness[] = [];
  const kits: OtelKit[] = [];
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close();
    for (const kit of kits.splice(0)) await kit.shutdown();
    failNextHandler = false;
  });

  async function openWith(
    file: ReturnType<typeof temp.file>,
    placeOrder: (payload: unknown, context: InProcessCallContext) => Promise<unknown>,
    restore = false,
  ): Promise<{ h: Harness; kit: OtelKit }> {
    const kit = new OtelKit();
    kits.push(kit);
    const h = await openHarness({
      file,
      definitions: [orderProcess],
      adapters: [OrderAdapter],
      services: { supplier: { placeOrder } },
      registry: { supplier: { transport: 'in-process', address: 'supplier' } },
      coordinator: { observability: kit.options() },
      restore,
    });
    open.push(h);
    return { h, kit };
  }

  it('parents release and delivery of an early answer under its receive span, linked to the request', async () => {
    // The supplier answers inside the call: the instance is still at the service step, so the
    // answer is parked, then released when the instance reaches the wait state.
    const { h, kit } = await openWith(temp.file(), async (_payload, context) => {
      const outcome = await context.respond('confirmed', { confirmationId: 'C-1' });
      expect(outcome.status).toBe('parked');
      return undefined;
    });
    const instanceId = await h.engine.start('order', { orderNumber: 'PO-1' });
    await h.engine.whenEnded(instanceId);
    await h.coordinator.idle();

    const invoke = kit.one('invoke order');
    const send = kit.one('send supplier');
    const receive = kit.one('receive confirmed');
    const park = kit.one('park confirmed');
    const release = kit.one('release confirmed');
    const deliver = kit.one('deliver confirmed');
    const traceId = invoke.spanContext().traceId;
    for (const span of [send, receive, park, release, deliver])
      expect(span.spanContext().traceId).toBe(traceId);
    expect(parentId(invoke)).toBeUndefined();
    expect(parentId(send)).toBe(invoke.spanContext().spanId);
    expect(send.kind).toBe(SpanKind.CLIENT);
    // The answer came in the trace of the request it answers (the service propagated it).
    expect(parentId(receive)).toBe(send.spanContext().spanId);
    expect(receive.kind).toBe(SpanKind.CONSUMER);
    expect(parentId(park)).toBe(receive.spanContext().spanId);
    // Release hangs under the receive span through the context stored with the parked answer.
    expect(parentId(release)).toBe(receive.spanContext().spanId);
    expect(parentId(deliver)).toBe(release.spanContext().spanId);
    for (const span of [receive, release, deliver])
      expect(linkedIds(span)).toContain(invoke.spanContext().spanId);

    const correlationKey = send.attributes['messaging.message.conversation_id'];
    expect(typeof correlationKey).toBe('string');
    expect(receive.attributes).toMatchObject({
      'messaging.system': 'in-process',
      'messaging.operation.type': 'receive',
      'messaging.message.conversation_id': correlationKey,
      'psi.instance.id': instanceId,
      'psi.wait_state': 'await-confirmation',
      'psi.outcome': 'parked',
    });
    expect(deliver.attributes).toMatchObject({
      'psi.instance.id': instanceId,
      'psi.event': 'confirmed',
      'psi.outcome': 'delivered',
    });
    expect(invoke.attributes).toMatchObject({ 'psi.step': 'order', 'psi.outcome': 'waiting' });
    // The stored context is the invoke span's, on the expectation and the outbox entry.
    const [expectation] = await h.query<{ traceParent: string }>(
      'SELECT "traceParent" FROM psi_expectation',
    );
    const [entry] = await h.query<{ traceParent: string }>('SELECT "traceParent" FROM psi_outbox');
    const stored = `00-${traceId}-${invoke.spanContext().spanId}-01`;
    expect(expectation.traceParent).toBe(stored);
    expect(entry.traceParent).toBe(stored);
  });

  it('links a delivery after a restart to the request sent before it', async () => {
    const file = temp.file();
    const first = await openWith(file, async () => undefined);
    const instanceId = await first.h.engine.start('order', { orderNumber: 'PO-2' });
    await first.h.atStep(instanceId, 'await-confirmation');
    // The invoke span ends once the step's work committed, just after the engine moved on.
    await first.h.coordinator.idle();
    const invoke = first.kit.one('invoke order');
    const [{ correlationKey }] = await first.h.query<{ correlationKey: string }>(
      'SELECT "correlationKey" FROM psi_invocation',
    );
    await first.h.close();
    open.splice(open.indexOf(first.h), 1);

    // Another process: its own SDK, nothing in memory from the first.
    const second = await openWith(file, async () => undefined, true);
    await second.h.coordinator.receive({
      messageId: 'answer-2',
      event: 'confirmed',
      correlationKey,
      payload: { confirmationId: 'C-2' },
    });
    await second.h.engine.whenEnded(instanceId);
    const receive = second.kit.one('receive confirmed');
    const deliver = second.kit.one('deliver confirmed');
    expect(second.kit.names()).not.toContain('invoke order');
    expect(parentId(deliver)).toBe(receive.spanContext().spanId);
    expect(deliver.links.map((l) => l.context)).toEqual([
      expect.objectContaining({
        traceId: invoke.spanContext().traceId,
        spanId: invoke.spanContext().spanId,
      }),
    ]);
    expect(linkedIds(receive)).toEqual([invoke.spanContext().spanId]);
  });

  it('hangs a replayed dead letter under the answer it was, linked to the request', async () => {
    let answer: InProcessCallContext | undefined;
    const { h, kit } = await openWith(temp.file(), async (_payload, context) => {
      answer = context;
      return undefined;
    });
    const instanceId = await h.engine.start('order', { orderNumber: 'PO-3' });
    await h.atStep(instanceId, 'await-confirmation');
    failNextHandler = true;
    const first = await answer!.respond('confirmed', { confirmationId: 'C-3' });
    expect(first).toMatchObject({ status: 'dead-lettered', reason: 'handler-failed' });
    const letter = await h.coordinator.deadLetters.get(
      (first as { deadLetterId: string }).deadLetterId,
    );
    const firstReceive = kit.one('receive confirmed');
    expect(letter.traceParent).toContain(firstReceive.spanContext().spanId);
    expect(kit.one('dead-letter handler-failed').parentSpanContext?.spanId).toBe(
      firstReceive.spanContext().spanId,
    );
    kit.spans.reset();

    const replayed = await h.coordinator.deadLetters.replay(letter.id);
    expect(replayed.status).toBe('delivered');
    await h.engine.whenEnded(instanceId);
    const invokeId = (
      await h.query<{ traceParent: string }>('SELECT "traceParent" FROM psi_expectation')
    )[0].traceParent.split('-')[2];
    const receive = kit.one('receive confirmed');
    const deliver = kit.one('deliver confirmed');
    expect(parentId(receive)).toBe(firstReceive.spanContext().spanId);
    expect(receive.spanContext().traceId).toBe(firstReceive.spanContext().traceId);
    expect(parentId(deliver)).toBe(receive.spanContext().spanId);
    expect(linkedIds(deliver)).toEqual([invokeId]);
  });
});
