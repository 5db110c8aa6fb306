import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsString } from 'class-validator';
import {
  describeEachStore,
  openHarness,
  TestClock,
  useTempDir,
  type Harness,
  type HarnessOptions,
} from './fixtures';

// Issue 16, item 18: nothing bounds junk. Answers for a key that never comes are capped per key
// (above the cap: a `parking-full` dead letter, kept and replayable, never a drop), and dead
// letters, audit entries and dedupe ids are deleted after a configurable retention.

class Confirmation {
  @IsString() orderNumber!: string;
}

@ServiceAdapter({ step: 'send-order', service: 'supplier' })
class SendOrderAdapter {
  @Input() @IsString() orderNumber!: string;
  @Output() confirmed?: boolean;
  @UseService() supplier!: { place(order: { orderNumber: string }): Promise<void> };

  async callService(): Promise<void> {
    await this.supplier.place({ orderNumber: this.orderNumber });
  }

  @OnResponse('confirmed', {
    waitState: 'await-confirmation',
    payload: Confirmation,
    businessKey: { orderNumber: 'orderNumber' },
  })
  onConfirmed(): string {
    this.confirmed = true;
    return 'confirmed';
  }
}

const orderProcess = defineProcess({
  id: 'order',
  start: 'send-order',
  steps: {
    'send-order': { kind: 'service', next: 'await-confirmation' },
    'await-confirmation': { kind: 'wait', transitions: { confirmed: 'done' } },
    done: { kind: 'end' },
  },
});

const DAY = 86_400_000;

describeEachStore('junk caps and retention', () => {
  const temp = useTempDir();
  let h: Harness;

  async function open(
    coordinator: HarnessOptions['coordinator'] = {},
    clock?: TestClock,
  ): Promise<Harness> {
    h = await openHarness({
      file: temp.file(),
      definitions: [orderProcess],
      adapters: [SendOrderAdapter],
      services: { supplier: { place: () => undefined } },
      registry: { supplier: { transport: 'in-process', address: 'supplier' } },
      clock: clock?.now,
      coordinator,
    });
    return h;
  }

  afterEach(async () => {
    await h.close();
  });

  const confirmation = (orderNumber: string, n: number) => ({
    event: 'confirmed',
    messageId: `${orderNumber}-${n}`,
    payload: { orderNumber },
  });

  describe('parking cap', () => {
    it('parks at most maxParkedPerKey answers for a key; the rest become parking-full dead letters, which replay', async () => {
      await open({ maxParkedPerKey: 3 });

      const outcomes = [];
      for (let n = 1; n <= 5; n++) {
        outcomes.push(await h.coordinator.receive(confirmation('PO-MISSING', n)));
      }
      const other = await h.coordinator.receive(confirmation('PO-OTHER', 1));

      expect(outcomes.map((o) => o.status)).toEqual([
        'parked',
        'parked',
        'parked',
        'dead-lettered',
        'dead-lettered',
      ]);
      expect(outcomes[4]).toMatchObject({ reason: 'parking-full' });
      expect(other.status).toBe('parked'); // another key has its own places
      const letters = await h.coordinator.deadLetters.list({ reason: 'parking-full' });
      expect(letters.map((l) => [l.messageId, l.payload, l.detail])).toEqual([
        ['PO-MISSING-4', { orderNumber: 'PO-MISSING' }, { maxParkedPerKey: 3 }],
        ['PO-MISSING-5', { orderNumber: 'PO-MISSING' }, { maxParkedPerKey: 3 }],
      ]);
      expect(await h.query('SELECT seq FROM psi_parked_message')).toHaveLength(4);

      // Once the order exists, the parked ones are delivered or late, and a kept one replays.
      await h.engine.start('order', { orderNumber: 'PO-MISSING' }, { instanceId: 'o-1' });
      await h.engine.whenEnded('o-1');
      await h.coordinator.idle();
      const replay = await h.coordinator.deadLetters.replay(letters[0]!.id);
      expect(replay).toMatchObject({ status: 'dead-lettered', reason: 'late' });
    });

    it('caps by correlation key too, and parks 100 per key by default', async () => {
      await open();

      const outcomes = [];
      for (let n = 1; n <= 101; n++) {
        outcomes.push(
          await h.coordinator.receive({
            event: 'confirmed',
            messageId: `m-${n}`,
            correlationKey: 'corr-never',
            payload: { orderNumber: 'PO-X' },
          }),
        );
      }

      expect(outcomes.filter((o) => o.status === 'parked')).toHaveLength(100);
      expect(outcomes[100]).toMatchObject({ status: 'dead-lettered', reason: 'parking-full' });
    });
  });

  describe('retention', () => {
    it('deletes resolved dead letters, audit entries and dedupe ids past their age, and keeps open dead letters by default', async () => {
      const clock = new TestClock();
      await open({ maxParkedPerKey: 1 }, clock);
      // An order that completes (audit entries), two answers over the cap (dead letters), one
      // of them discarded (resolved), and dedupe ids for every answer.
      await h.engine.start('order', { orderNumber: 'PO-1' }, { instanceId: 'o-1' });
      await h.atStep('o-1', 'await-confirmation');
      await h.coordinator.receive(confirmation('PO-1', 1));
      await h.engine.whenEnded('o-1');
      await h.coordinator.receive(confirmation('PO-2', 1));
      const full = [
        await h.coordinator.receive(confirmation('PO-2', 2)),
        await h.coordinator.receive(confirmation('PO-2', 3)),
      ];
      const [discarded, kept] = full.map((o) =>
        o.status === 'dead-lettered' ? o.deadLetterId : '',
      );
      await h.coordinator.deadLetters.discard(discarded!);
      await h.coordinator.idle();
      const count = async (table: string): Promise<number> =>
        Number((await h.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))[0]!.n);
      expect(await count('psi_audit')).toBeGreaterThan(5);
      expect(await count('psi_inbound_message')).toBe(4);

      // A day on: only dedupe ids are past their age (the dedupe window, 24 h).
      clock.advance(DAY + 1);
      expect(await h.coordinator.sweepRetention()).toEqual({
        resolvedDeadLetters: 0,
        openDeadLetters: 0,
        auditEntries: 0,
        dedupeIds: 4,
      });
      // 30 days on: the resolved letter; 90 days on: the audit trail. The open letter stays.
      clock.advance(30 * DAY);
      expect(await h.coordinator.sweepRetention()).toMatchObject({ resolvedDeadLetters: 1 });
      clock.advance(60 * DAY);
      const ninety = await h.coordinator.sweepRetention();
      expect(ninety.auditEntries).toBeGreaterThan(5);
      expect(await count('psi_audit')).toBe(0);
      expect((await h.coordinator.deadLetters.list()).map((l) => l.id)).toEqual([kept]);
      expect(await count('psi_dead_letter')).toBe(1);
    });

    it('deletes in batches, open dead letters too when configured, and keeps kinds set to null', async () => {
      const clock = new TestClock();
      await open(
        {
          maxParkedPerKey: 1,
          retention: { openDeadLettersMs: DAY, auditMs: null, batchSize: 2 },
        },
        clock,
      );
      await h.coordinator.receive(confirmation('PO-9', 0));
      for (let n = 1; n <= 5; n++) await h.coordinator.receive(confirmation('PO-9', n));
      await h.coordinator.idle();
      const audit = (await h.query('SELECT seq FROM psi_audit')).length;

      clock.advance(DAY + 1);
      const report = await h.coordinator.sweepRetention();

      expect(report).toEqual({
        resolvedDeadLetters: 0,
        openDeadLetters: 5,
        auditEntries: 0,
        dedupeIds: 6,
      });
      expect(await h.query('SELECT id FROM psi_dead_letter')).toEqual([]);
      expect(await h.query('SELECT seq FROM psi_audit')).toHaveLength(audit);
      expect(await h.query('SELECT seq FROM psi_parked_message')).toHaveLength(1);
    });
  });
});
