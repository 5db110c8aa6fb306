import { TransportTechnicalError } from '@psi/core';
import { Input, OnResponse, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsString } from 'class-validator';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  TestClock,
  useTempDir,
  waitUntil,
  type Harness,
} from '../correlation/fixtures';
import { captureStatements, scansAmong } from '../store/statement-plans';
import { linkedIds, OtelKit, parentId } from './otel-kit';
import { SpanStatusCode } from '@opentelemetry/api';
import { definingStoreKind } from '../correlation/fixtures';

// Metric values after a scripted scenario (each step's counters known in advance), and the
// store gauges as two coordinators on one store see them: both read the store, so both report
// what either wrote.

class Confirmation {
  @IsString() confirmationId!: string;
}

abstract class Supplier {
  abstract placeOrder(request: { orderNumber: string }): Promise<void>;
}

@ServiceAdapter({ step: 'order', service: 'supplier' })
class OrderAdapter {
  @Input() @IsString() orderNumber!: string;
  @UseService(Supplier) supplier!: Supplier;
  async callService(): Promise<void> {
    await this.supplier.placeOrder({ orderNumber: this.orderNumber });
  }
  @OnResponse('confirmed', {
    waitState: 'await-confirmation',
    payload: Confirmation,
    timeoutMs: 60_000,
    timeoutTransition: 'timeout',
  })
  confirmed(): string {
    return 'confirmed';
  }
}

const orderProcess = defineProcess({
  id: 'order',
  start: 'order',
  steps: {
    order: { kind: 'service', next: 'await-confirmation' },
    'await-confirmation': {
      kind: 'wait',
      transitions: { confirmed: 'done', timeout: 'timed-out' },
    },
    done: { kind: 'end' },
    'timed-out': { kind: 'end' },
  },
});

describeEachStore('metrics', () => {
  const kind = definingStoreKind();
  const temp = useTempDir('psi-metrics-');
  const open: Harness[] = [];
  const kits: OtelKit[] = [];
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close();
    for (const kit of kits.splice(0)) await kit.shutdown();
  });

  async function node(
    file: ReturnType<typeof temp.file>,
    nodeId: string,
    supplier: RecordingService,
    clock?: TestClock,
  ): Promise<{ h: Harness; kit: OtelKit }> {
    const kit = new OtelKit();
    kits.push(kit);
    const h = await openHarness({
      file,
      ...(clock ? { clock: clock.now } : {}),
      definitions: [orderProcess],
      adapters: [OrderAdapter],
      services: { supplier: supplier.service },
      registry: {
        supplier: {
          transport: 'in-process',
          address: 'supplier',
          retry: { maxAttempts: 2, initialDelayMs: 1, multiplier: 1, maxDelayMs: 1 },
        },
      },
      coordinator: { nodeId, observability: kit.options() },
    });
    open.push(h);
    return { h, kit };
  }

  it('counts each step of a scripted scenario once, after its commit', async () => {
    const clock = new TestClock();
    let failing = false;
    const supplier = new RecordingService({
      placeOrder: () => {
        if (failing) throw new TransportTechnicalError('supplier down');
        return undefined;
      },
    });
    const { h, kit } = await node(temp.file(), 'n1', supplier, clock);

    // 1. Sent, answered while waiting: delivered. The same answer again: a duplicate.
    const one = await h.engine.start('order', { orderNumber: 'PO-1' });
    await h.atStep(one, 'await-confirmation');
    const answer = { confirmationId: 'C-1' };
    await supplier.last().respond('confirmed', answer, { messageId: 'a-1' });
    await supplier.last().respond('confirmed', answer, { messageId: 'a-1' });
    await h.engine.whenEnded(one);
    // 2. An answer before its request: parked (no expectation yet)...
    await h.coordinator.receive({
      messageId: 'early',
      event: 'confirmed',
      correlationKey: 'nobody-yet',
      payload: answer,
    });
    // 3. ... an unknown event: dead-lettered.
    await h.coordinator.receive({ messageId: 'x', event: 'confrimed', payload: {} });
    // 4. A send that fails twice: retried once, then frozen.
    failing = true;
    await h.engine.start('order', { orderNumber: 'PO-2' });
    await waitUntil(() => h.traces.some((e) => e.kind === 'frozen'), 'frozen');
    failing = false;
    // 5. One left waiting past its deadline: timed out.
    const late = await h.engine.start('order', { orderNumber: 'PO-3' });
    await h.atStep(late, 'await-confirmation');
    clock.advance(61_000);
    await waitUntil(
      async () => (await h.engine.getInstance(late)).status === 'completed',
      'timeout',
    );
    await h.coordinator.idle();

    expect(await kit.value('psi.requests.sent')).toBe(2);
    expect(await kit.value('psi.answers.received', { 'psi.event': 'confirmed' })).toBe(3);
    expect(await kit.value('psi.answers.received')).toBe(4);
    expect(await kit.value('psi.answers.delivered')).toBe(1);
    expect(await kit.value('psi.answers.duplicates')).toBe(1);
    expect(await kit.value('psi.answers.parked')).toBe(1);
    expect(await kit.value('psi.answers.released')).toBe(0);
    expect(
      await kit.value('psi.dead_letters.created', { 'psi.dead_letter.reason': 'unknown-event' }),
    ).toBe(1);
    expect(await kit.value('psi.dead_letters.created')).toBe(1);
    expect(await kit.value('psi.requests.retried')).toBe(1);
    expect(await kit.value('psi.invocations.frozen')).toBe(1);
    // PO-3's, and PO-2's: recorded with its request, it times out although the step froze.
    expect(await kit.value('psi.expectations.timed_out')).toBe(2);
    expect(await kit.histogramCount('psi.answer.critical_time')).toBe(1);
    expect(await kit.histogramCount('psi.handler.duration')).toBe(1);
    // Four attempts: PO-1, PO-2 twice, PO-3.
    expect(await kit.histogramCount('psi.dispatch.duration')).toBe(4);
    // The spans of the same steps: retry and freeze under their invoke span, each timeout a
    // root linked to the invoke span that sent its request.
    const invokes = kit.finished().filter((s) => s.name === 'invoke order');
    const invokeIds = invokes.map((s) => s.spanContext().spanId);
    const retry = kit.one('retry supplier');
    const freeze = kit.one('freeze order');
    const frozenInvoke = invokes.find((s) => s.attributes['psi.outcome'] === 'frozen')!;
    expect(parentId(retry)).toBe(frozenInvoke.spanContext().spanId);
    expect(parentId(freeze)).toBe(frozenInvoke.spanContext().spanId);
    expect(freeze.status.code).toBe(SpanStatusCode.ERROR);
    const timeouts = kit.finished().filter((s) => s.name === 'timeout confirmed');
    expect(timeouts).toHaveLength(2);
    for (const timeout of timeouts) {
      expect(parentId(timeout)).toBeUndefined();
      expect(invokeIds).toContain(linkedIds(timeout)[0]);
    }
    expect(kit.one('dead-letter unknown-event').attributes['psi.dead_letter.reason']).toBe(
      'unknown-event',
    );
    // The counters agree with the coordinator's own stats.
    expect(h.coordinator.stats()).toMatchObject({
      received: 4,
      delivered: 1,
      duplicates: 1,
      parked: 1,
      deadLettered: 1,
      retried: 1,
      frozen: 1,
      timedOut: 2,
    });
    // The gauges of the same moment: no expectation is open (delivered, timed out), the parked
    // answer is within its TTL, one letter is open, one invocation frozen.
    expect(await kit.value('psi.store.expectations.open')).toBe(0);
    expect(await kit.value('psi.store.parked_answers')).toBe(1);
    expect(await kit.value('psi.store.parked_answers.oldest_age')).toBeCloseTo(61, 0);
    expect(
      await kit.value('psi.store.dead_letters.open', { 'psi.dead_letter.reason': 'unknown-event' }),
    ).toBe(1);
    expect(await kit.value('psi.store.invocations.frozen')).toBe(1);
  });

  it('reports the same store gauges on two coordinators sharing one store, from indexed reads', async () => {
    const file = temp.file();
    const supplier = new RecordingService({ placeOrder: undefined });
    const a = await node(file, 'node-a', supplier);
    const b = await node(file, 'node-b', supplier);
    const first = await a.h.engine.start('order', { orderNumber: 'PO-A' });
    await a.h.atStep(first, 'await-confirmation');
    const second = await b.h.engine.start('order', { orderNumber: 'PO-B' });
    await b.h.atStep(second, 'await-confirmation');
    await a.h.coordinator.receive({
      messageId: 'p',
      event: 'confirmed',
      correlationKey: 'nobody',
      payload: { confirmationId: 'C' },
    });
    await b.h.coordinator.receive({ messageId: 'u', event: 'nope', payload: {} });
    expect((await a.h.coordinator.guard.start('nightly', 60_000, 'node-a')).started).toBe(true);

    const capture = captureStatements(kind);
    let readings: number[][];
    try {
      readings = [];
      for (const kit of [a.kit, b.kit]) {
        readings.push([
          await kit.value('psi.store.expectations.open'),
          await kit.value('psi.store.parked_answers'),
          await kit.value('psi.store.dead_letters.open', {
            'psi.dead_letter.reason': 'unknown-event',
          }),
          await kit.value('psi.store.invocations.frozen'),
          await kit.value('psi.store.guards.held'),
        ]);
      }
    } finally {
      capture.stop();
    }
    expect(readings).toEqual([
      [2, 1, 1, 0, 1],
      [2, 1, 1, 0, 1],
    ]);
    const gaugeReads = capture.statements.filter((s) => /COUNT|MIN/i.test(s.sql));
    expect(gaugeReads.length).toBeGreaterThanOrEqual(6);
    expect(await scansAmong(a.h.store, gaugeReads)).toEqual([]);
  });

  it('keeps a gauge reading for gaugeCacheMs: a second scrape reads no store', async () => {
    const kit = new OtelKit();
    kits.push(kit);
    const supplier = new RecordingService({ placeOrder: undefined });
    const h = await openHarness({
      file: temp.file(),
      definitions: [orderProcess],
      adapters: [OrderAdapter],
      services: { supplier: supplier.service },
      registry: { supplier: { transport: 'in-process', address: 'supplier' } },
      coordinator: { observability: kit.options(60_000) },
    });
    open.push(h);
    expect(await kit.value('psi.store.expectations.open')).toBe(0);
    const id = await h.engine.start('order', { orderNumber: 'PO-C' });
    await h.atStep(id, 'await-confirmation');
    const capture = captureStatements(kind);
    try {
      expect(await kit.value('psi.store.expectations.open')).toBe(0); // the cached reading
    } finally {
      capture.stop();
    }
    expect(capture.statements.filter((s) => /COUNT/i.test(s.sql))).toEqual([]);
  });
});
