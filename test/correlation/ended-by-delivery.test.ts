import { Input, OnResponse, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  useTempDir,
  type Harness,
} from './fixtures';

// An answer whose delivery ends the instance: what the instance leaves behind (an expectation
// of a wait state it never reached, an answer parked for it) is settled in the same commit as
// its final state and the delivery's record, not in a transaction of its own after the
// `instance-ended` event (one commit fewer per instance, and no window between the two).

abstract class Shop {
  abstract order(request: { item: string }): Promise<void>;
}

@ServiceAdapter({ step: 'order', service: 'shop' })
class OrderAdapter {
  @Input() item!: string;
  @UseService(Shop) shop!: Shop;

  async callService(): Promise<void> {
    await this.shop.order({ item: this.item });
  }

  @OnResponse('confirmed', { waitState: 'await-confirmation' })
  confirmed(): string {
    return 'confirmed';
  }

  // The instance never gets here on the confirmed path: its expectation is left open.
  @OnResponse('shipped', { waitState: 'await-shipment' })
  shipped(): string {
    return 'shipped';
  }
}

const shopProcess = defineProcess({
  id: 'shop',
  start: 'order',
  steps: {
    order: { kind: 'service', next: 'await-confirmation' },
    'await-confirmation': {
      kind: 'wait',
      transitions: { confirmed: 'done', shipped: 'await-shipment' },
    },
    'await-shipment': { kind: 'wait', transitions: { shipped: 'done' } },
    done: { kind: 'end' },
  },
});

describeEachStore('an instance ended by a delivery', () => {
  const temp = useTempDir('psi-ended-by-delivery-');
  let h: Harness;
  const shop = new RecordingService({ order: undefined });
  beforeEach(async () => {
    h = await openHarness({
      file: temp.file(),
      definitions: [shopProcess],
      adapters: [OrderAdapter],
      services: { shop: shop.service },
      registry: { shop: { transport: 'in-process', address: 'shop' } },
    });
  });
  afterEach(() => h.close());

  it('settles what it leaves behind in the commit that records the delivery', async () => {
    const id = await h.engine.start('shop', { item: 'book' });
    await h.atStep(id, 'await-confirmation');
    await h.coordinator.idle();
    const { correlationKey } = shop.last('order');
    // "shipped" comes early: parked for the instance, which is not at await-shipment.
    expect(
      await h.coordinator.receive({
        event: 'shipped',
        correlationKey,
        messageId: 'shipped-1',
        payload: {},
      }),
    ).toMatchObject({ status: 'parked' });

    expect(
      await h.coordinator.receive({
        event: 'confirmed',
        correlationKey,
        messageId: 'confirmed-1',
        payload: {},
      }),
    ).toMatchObject({ status: 'delivered' });
    // Settled by the time the delivery returned: the instance-ended event has nothing to do.
    const statuses = await h.query<{ event: string; status: string }>(
      'SELECT event, status FROM psi_expectation WHERE "instanceId" = ? ORDER BY event',
      [id],
    );
    expect(statuses).toEqual([
      { event: 'confirmed', status: 'delivered' },
      { event: 'shipped', status: 'cancelled' },
    ]);
    expect(await h.query('SELECT seq FROM psi_parked_message')).toEqual([]);
    expect(await h.coordinator.deadLetters.list({ reason: 'late' })).toEqual([
      expect.objectContaining({ messageId: 'shipped-1', detail: { instanceEnded: true } }),
    ]);
    if (h.store.kind === 'postgres') {
      // One transaction wrote the final state and cancelled the leftover expectation.
      const [state] = await h.store.dataSource.query(
        'SELECT xmin::text AS tx FROM psi_engine_instance WHERE "instanceId" = $1',
        [id],
      );
      const [left] = await h.store.dataSource.query(
        `SELECT xmin::text AS tx FROM psi_expectation WHERE "instanceId" = $1 AND event = 'shipped'`,
        [id],
      );
      expect(left.tx).toBe(state.tx);
    }

    await h.coordinator.idle();
    expect((await h.engine.whenEnded(id)).history).toEqual(['order', 'await-confirmation', 'done']);
    // Settled once: one late letter, one cancellation in the trail.
    expect(await h.coordinator.deadLetters.list()).toHaveLength(1);
    expect(h.problems).toEqual([]);
  });
});
