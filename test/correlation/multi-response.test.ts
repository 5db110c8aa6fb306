import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsString } from 'class-validator';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  useTempDir,
  type Harness,
} from './fixtures';

// Semantic 5: one adapter expects several events (accepted, then shipped) at different wait
// states; whatever order they arrive in, each is delivered at its own wait state, in process order.
// Semantic 6: one-of-many group: the first delivered closes the others in the same transaction;
// later answers for the closed ones are dead-lettered `superseded`.

abstract class Shop {
  abstract order(request: { sku: string }): Promise<void>;
}

class Accepted {
  @IsString() orderId!: string;
}
class Shipped {
  @IsString() trackingNo!: string;
}

@ServiceAdapter({ step: 'order', service: 'shop' })
class OrderAdapter {
  @Input() @IsString() sku!: string;
  @Input() log?: string[];
  @Output('log') out?: string[];
  @Output() orderId?: string;
  @Output() trackingNo?: string;
  @UseService(Shop) shop!: Shop;

  async callService(): Promise<void> {
    await this.shop.order({ sku: this.sku });
  }

  @OnResponse('accepted', { waitState: 'await-accepted', payload: Accepted })
  accepted(answer: Accepted): void {
    this.orderId = answer.orderId;
    this.out = [...(this.log ?? []), 'accepted'];
  }

  @OnResponse('shipped', { waitState: 'await-shipped', payload: Shipped })
  shipped(answer: Shipped): void {
    this.trackingNo = answer.trackingNo;
    this.out = [...(this.log ?? []), 'shipped'];
  }
}

abstract class Courier {
  abstract dispatch(request: { parcel: string }): Promise<void>;
}

class Delivery {
  @IsString() by!: string;
}

/** Wait for one of: delivered to the door, left with a neighbour, returned to sender. */
@ServiceAdapter({ step: 'dispatch', service: 'courier' })
class DispatchAdapter {
  @Input() @IsString() parcel!: string;
  @Output() outcome?: string;
  @UseService(Courier) courier!: Courier;

  async callService(): Promise<void> {
    await this.courier.dispatch({ parcel: this.parcel });
  }

  @OnResponse('delivered', { waitState: 'await-outcome', group: 'outcome', payload: Delivery })
  delivered(answer: Delivery): string {
    this.outcome = `delivered by ${answer.by}`;
    return 'delivered';
  }

  @OnResponse('neighbour', { waitState: 'await-outcome', group: 'outcome', payload: Delivery })
  neighbour(answer: Delivery): string {
    this.outcome = `left with ${answer.by}`;
    return 'delivered';
  }

  @OnResponse('returned', { waitState: 'await-outcome', group: 'outcome' })
  returned(): string {
    this.outcome = 'returned';
    return 'returned';
  }
}

const orderProcess = defineProcess({
  id: 'order',
  start: 'order',
  steps: {
    order: { kind: 'service', next: 'await-accepted' },
    'await-accepted': { kind: 'wait', next: 'await-shipped' },
    'await-shipped': { kind: 'wait', next: 'done' },
    done: { kind: 'end' },
  },
});

const courierProcess = defineProcess({
  id: 'courier',
  start: 'dispatch',
  steps: {
    dispatch: { kind: 'service', next: 'await-outcome' },
    'await-outcome': { kind: 'wait', transitions: { delivered: 'done', returned: 'refund' } },
    refund: { kind: 'end' },
    done: { kind: 'end' },
  },
});

describeEachStore('several answers', () => {
  const temp = useTempDir();
  let h: Harness;
  let shop: RecordingService;
  let courier: RecordingService;

  beforeEach(async () => {
    shop = new RecordingService({ order: undefined });
    courier = new RecordingService({ dispatch: undefined });
    h = await openHarness({
      file: temp.file(),
      definitions: [orderProcess, courierProcess],
      adapters: [OrderAdapter, DispatchAdapter],
      services: { shop: shop.service, courier: courier.service },
      registry: {
        shop: { transport: 'in-process', address: 'shop' },
        courier: { transport: 'in-process', address: 'courier' },
      },
    });
  });
  afterEach(() => h.close());

  it('delivers "shipped" sent before "accepted" at its own wait state, after "accepted"', async () => {
    const id = await h.engine.start('order', { sku: 'SKU-1' });
    await h.atStep(id, 'await-accepted');
    const context = shop.last();

    expect(await context.respond('shipped', { trackingNo: 'TRK-9' })).toMatchObject({
      status: 'parked',
      instanceId: id,
    });
    expect((await h.engine.getInstance(id)).currentStep).toBe('await-accepted');
    expect(await context.respond('accepted', { orderId: 'ORD-1' })).toMatchObject({
      status: 'delivered',
      instanceId: id,
    });

    const final = await h.engine.whenEnded(id);
    expect(final.status).toBe('completed');
    expect(final.history).toEqual(['order', 'await-accepted', 'await-shipped', 'done']);
    expect(final.variables).toMatchObject({
      orderId: 'ORD-1',
      trackingNo: 'TRK-9',
      log: ['accepted', 'shipped'],
    });
    await h.coordinator.idle();
    const trail = (await h.coordinator.auditTrail(id)).filter((e) =>
      ['parked', 'released', 'delivered'].includes(e.kind),
    );
    expect(
      trail.map(
        (e) =>
          `${e.kind}:${String(e.detail?.event)}@${String(e.detail?.waitState ?? e.detail?.waitingFor)}`,
      ),
    ).toEqual([
      'parked:shipped@await-shipped',
      'delivered:accepted@await-accepted',
      'released:shipped@await-shipped',
      'delivered:shipped@await-shipped',
    ]);
    const rows = await h.query<{ event: string; status: string }>(
      'SELECT event, status FROM psi_expectation ORDER BY event',
    );
    expect(rows).toEqual([
      { event: 'accepted', status: 'delivered' },
      { event: 'shipped', status: 'delivered' },
    ]);
    expect((await h.coordinator.invocations({ instanceId: id }))[0].status).toBe('completed');
    expect(await h.query('SELECT * FROM psi_parked_message')).toEqual([]);
  });

  it('one of many: the first answer closes its group in the claim transaction; later ones are superseded', async () => {
    const id = await h.engine.start('courier', { parcel: 'P-1' });
    await h.atStep(id, 'await-outcome');
    const context = courier.last();

    expect(await context.respond('neighbour', { by: 'Mrs Smith' })).toMatchObject({
      status: 'delivered',
      instanceId: id,
    });
    const rows = await h.query<{ event: string; status: string; closedAt: number }>(
      'SELECT event, status, "closedAt" FROM psi_expectation ORDER BY event',
    );
    expect(rows.map((r) => [r.event, r.status])).toEqual([
      ['delivered', 'superseded'],
      ['neighbour', 'delivered'],
      ['returned', 'superseded'],
    ]);
    // The siblings were closed by the claim, before the winner was marked delivered.
    const winnerClosedAt = Number(rows[1].closedAt);
    expect(Number(rows[0].closedAt)).toBeLessThanOrEqual(winnerClosedAt);
    expect(Number(rows[2].closedAt)).toBeLessThanOrEqual(winnerClosedAt);

    expect(await context.respond('returned', null)).toMatchObject({
      status: 'dead-lettered',
      reason: 'superseded',
    });
    expect(await context.respond('delivered', { by: 'driver' })).toMatchObject({
      status: 'dead-lettered',
      reason: 'superseded',
    });

    const final = await h.engine.whenEnded(id);
    expect(final).toMatchObject({
      status: 'completed',
      variables: { outcome: 'left with Mrs Smith' },
    });
    expect(final.history).toEqual(['dispatch', 'await-outcome', 'done']);
    const letters = await h.coordinator.deadLetters.list({ reason: 'superseded' });
    expect(letters.map((l) => l.event)).toEqual(['returned', 'delivered']);
    expect(letters.every((l) => l.instanceId === id)).toBe(true);
    expect((await h.coordinator.invocations({ instanceId: id }))[0].status).toBe('completed');
  });
});
