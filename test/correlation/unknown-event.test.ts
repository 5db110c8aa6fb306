import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  useTempDir,
  type Harness,
} from './fixtures';

// Issue 16.5: an answer for an event no adapter declares (a typo: "confirmd") can never be
// delivered: it is dead-lettered at once with its own reason and a warning naming the known
// events, instead of being parked silently for the 7-day default.

abstract class Supplier {
  abstract order(request: { item: string }): Promise<void>;
}

@ServiceAdapter({ step: 'order', service: 'supplier' })
class OrderAdapter {
  @Input() item!: string;
  @Output() confirmation?: string;
  @UseService(Supplier) supplier!: Supplier;

  async callService(): Promise<void> {
    await this.supplier.order({ item: this.item });
  }

  @OnResponse('confirmed', { waitState: 'await-confirmation' })
  confirmed(answer: { id: string }): string {
    this.confirmation = answer.id;
    return 'confirmed';
  }

  @OnResponse('declined', { waitState: 'await-confirmation', group: 'reply' })
  declined(): string {
    return 'declined';
  }
}

const orderProcess = defineProcess({
  id: 'order',
  start: 'order',
  steps: {
    order: { kind: 'service', next: 'await-confirmation' },
    'await-confirmation': {
      kind: 'wait',
      transitions: { confirmed: 'done', declined: 'done' },
    },
    done: { kind: 'end' },
  },
});

describeEachStore('answers for events no adapter declares', () => {
  const temp = useTempDir();
  let h: Harness;
  let supplier: RecordingService;

  beforeEach(async () => {
    supplier = new RecordingService({ order: undefined });
    h = await openHarness({
      file: temp.file(),
      definitions: [orderProcess],
      adapters: [OrderAdapter],
      services: { supplier: supplier.service },
      registry: { supplier: { transport: 'in-process', address: 'supplier' } },
    });
  });
  afterEach(() => h.close());

  it('are dead-lettered at once as unknown-event, with a warning; nothing is parked', async () => {
    const id = await h.engine.start('order', { item: 'bolts' });
    await h.atStep(id, 'await-confirmation');

    const outcome = await supplier.last().respond('confirmd', { id: 'C-1' }, { messageId: 'm-1' });

    expect(outcome).toMatchObject({ status: 'dead-lettered', reason: 'unknown-event' });
    const [letter] = await h.coordinator.deadLetters.list({ reason: 'unknown-event' });
    expect(letter).toMatchObject({
      messageId: 'm-1',
      event: 'confirmd',
      payload: { id: 'C-1' },
      detail: { knownEvents: ['confirmed', 'declined'] },
    });
    expect(await h.query('SELECT seq FROM psi_parked_message')).toEqual([]);
    expect(h.problems).toEqual([
      {
        level: 'warn',
        message:
          'No adapter, wait binding or engine model declares the event "confirmd"; the answer is dead-lettered (unknown-event)',
        detail: {
          messageId: 'm-1',
          event: 'confirmd',
          correlationKey: expect.any(String),
          source: 'in-process:supplier',
          knownEvents: ['confirmed', 'declined'],
        },
      },
    ]);
    h.problems.length = 0;
    // Sent again, it is a duplicate (remembered with its dead letter).
    expect(await supplier.last().respond('confirmd', { id: 'C-1' }, { messageId: 'm-1' })).toEqual({
      status: 'duplicate',
    });
    // The instance still waits for the real event, which is delivered.
    expect(await supplier.last().respond('confirmed', { id: 'C-1' })).toMatchObject({
      status: 'delivered',
      instanceId: id,
    });
    expect((await h.engine.whenEnded(id)).variables.confirmation).toBe('C-1');
  });
});
