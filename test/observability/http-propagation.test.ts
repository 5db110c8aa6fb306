import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { CallbackTokenService, HttpInboundServer, HttpTransport } from '@psi/adapters';
import { Input, OnResponse, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { ROOT_CONTEXT, SpanKind, trace, TraceFlags } from '@opentelemetry/api';
import { Agent, request } from 'undici';
import { describeEachStore, openHarness, useTempDir, type Harness } from '../correlation/fixtures';
import { linkedIds, OtelKit, parentId } from './otel-kit';

// W3C Trace Context through real HTTP on loopback, both ways: PSI's request carries its send
// span's traceparent to the service; the service's answer (POST /messages, a callback, a
// /signal) carries the service's own span, under which PSI's receive span hangs.

abstract class Supplier {
  abstract order(request: { item: string }): Promise<void>;
}

@ServiceAdapter({ step: 'order', service: 'supplier' })
class OrderAdapter {
  @Input() item!: string;
  @UseService(Supplier) supplier!: Supplier;
  async callService(): Promise<void> {
    await this.supplier.order({ item: this.item });
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
    'await-confirmation': { kind: 'wait', transitions: { confirmed: 'done', manual: 'done' } },
    done: { kind: 'end' },
  },
});

/** A service on loopback that records what it was sent and accepts (202). */
async function startService(
  received: Array<{ headers: IncomingHttpHeaders; body: string }>,
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = 202;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describeEachStore('trace context over HTTP', () => {
  const temp = useTempDir('psi-otel-http-');
  const client = new Agent();
  const BEARER = randomBytes(24).toString('hex');
  const tokens = new CallbackTokenService({ keys: [{ id: 'k1', secret: randomBytes(32) }] });
  let kit: OtelKit;
  let service: OtelKit; // the remote service's own SDK
  let h: Harness;
  let inbound: HttpInboundServer;
  let inboundUrl: string;
  let serviceServer: Server;
  const sent: Array<{ headers: IncomingHttpHeaders; body: string }> = [];

  beforeEach(async () => {
    kit = new OtelKit();
    service = new OtelKit();
    sent.length = 0;
    const started = await startService(sent);
    serviceServer = started.server;
    h = await openHarness({
      file: temp.file(),
      definitions: [orderProcess],
      adapters: [OrderAdapter],
      registry: { supplier: { transport: 'http', address: started.url } },
      transports: [new HttpTransport()],
      coordinator: { observability: kit.options() },
    });
    inbound = new HttpInboundServer({
      sink: h.coordinator,
      engine: h.engine,
      tokens,
      bearerToken: BEARER,
      tracerProvider: kit.tracerProvider,
    });
    ({ url: inboundUrl } = await inbound.start());
  });
  afterEach(async () => {
    await inbound.close();
    await h.close();
    await new Promise<void>((resolve) => serviceServer.close(() => resolve()));
    await kit.shutdown();
    await service.shutdown();
  });

  /** The service's handling of PSI's request: a span under the traceparent it was sent. */
  function serviceSpan(headers: IncomingHttpHeaders): Record<string, string> {
    // The service reads PSI's traceparent as any W3C propagator would.
    const [, traceId, spanId] = String(headers.traceparent).split('-');
    const parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId,
      spanId,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    const span = service.tracerProvider
      .getTracer('supplier')
      .startSpan('supplier handles order', { kind: SpanKind.SERVER }, parent);
    span.end();
    const own = span.spanContext();
    return { traceparent: `00-${own.traceId}-${own.spanId}-01`, tracestate: 'vendor=supplier' };
  }

  async function orderSent(): Promise<{ instanceId: string; headers: IncomingHttpHeaders }> {
    const instanceId = await h.engine.start('order', { item: 'bolts' });
    await h.atStep(instanceId, 'await-confirmation');
    await h.coordinator.idle(); // the invoke span ends once the outcome committed
    expect(sent).toHaveLength(1);
    return { instanceId, headers: sent[0].headers };
  }

  it('sends the send span as traceparent and hangs the /messages answer under the service span', async () => {
    const { instanceId, headers } = await orderSent();
    const send = kit.one('send supplier');
    const invoke = kit.one('invoke order');
    expect(send.kind).toBe(SpanKind.CLIENT);
    expect(headers.traceparent).toBe(
      `00-${send.spanContext().traceId}-${send.spanContext().spanId}-01`,
    );
    const answerHeaders = serviceSpan(headers);
    const response = await request(`${inboundUrl}/messages`, {
      method: 'POST',
      dispatcher: client,
      headers: {
        authorization: `Bearer ${BEARER}`,
        'content-type': 'application/json',
        'x-psi-correlation-key': String(headers['x-psi-correlation-key']),
        ...answerHeaders,
      },
      body: JSON.stringify({ event: 'confirmed', messageId: 'm-1', payload: {} }),
    });
    expect(response.statusCode).toBe(202);
    await response.body.text();
    await h.engine.whenEnded(instanceId);
    const supplierSpan = service.one('supplier handles order');
    expect(parentId(supplierSpan)).toBe(send.spanContext().spanId);
    const receive = kit.one('receive confirmed');
    expect(receive.spanContext().traceId).toBe(invoke.spanContext().traceId);
    expect(parentId(receive)).toBe(supplierSpan.spanContext().spanId);
    expect(receive.spanContext().traceState?.get('vendor')).toBe('supplier');
    expect(receive.attributes['messaging.system']).toBe('http');
    expect(linkedIds(kit.one('deliver confirmed'))).toEqual([invoke.spanContext().spanId]);
  });

  it('hangs a callback answer under the trace headers it came with', async () => {
    const { instanceId, headers } = await orderSent();
    const answerHeaders = serviceSpan(headers);
    const token = tokens.issue({
      instanceId,
      waitState: 'await-confirmation',
      correlationKey: String(headers['x-psi-correlation-key']),
      events: ['confirmed'],
      ttlMs: 60_000,
    });
    const callback = await request(`${inboundUrl}/callbacks/${token}`, {
      method: 'POST',
      dispatcher: client,
      headers: { 'content-type': 'application/json', ...answerHeaders },
      body: JSON.stringify({ event: 'confirmed', data: {} }),
    });
    expect(callback.statusCode).toBe(200);
    await callback.body.text();
    await h.engine.whenEnded(instanceId);
    const receive = kit.one('receive confirmed');
    expect(parentId(receive)).toBe(answerHeaders.traceparent.split('-')[2]);
    expect(receive.attributes['messaging.system']).toBe('http-callback');
    expect(linkedIds(receive)).toEqual([kit.one('invoke order').spanContext().spanId]);
  });

  it('runs /signal in a SERVER span under the caller trace context', async () => {
    const instanceId = await h.engine.start('order', { item: 'nuts' });
    await h.atStep(instanceId, 'await-confirmation');
    const caller = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
    const response = await request(`${inboundUrl}/instances/${instanceId}/signal`, {
      method: 'POST',
      dispatcher: client,
      headers: {
        authorization: `Bearer ${BEARER}`,
        'content-type': 'application/json',
        traceparent: caller,
      },
      body: JSON.stringify({ waitState: 'await-confirmation', transition: 'manual' }),
    });
    expect(response.statusCode).toBe(200);
    await response.body.text();
    const signal = kit.one('signal await-confirmation');
    expect(signal.kind).toBe(SpanKind.SERVER);
    expect(signal.spanContext().traceId).toBe('a'.repeat(32));
    expect(parentId(signal)).toBe('b'.repeat(16));
    expect(signal.attributes['psi.instance.id']).toBe(instanceId);
  });
});
