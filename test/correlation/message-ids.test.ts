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

// Message ids (issue 16.2 and 16.13). An empty id is no id: the content decides, as HTTP and
// Kafka already had it. Ids are unique per sender (the namespace a transport vouches for), so
// one sender cannot make another's answer a duplicate by reusing its id; and a "duplicate"
// whose content differs from the first is kept as a `conflict` dead letter with both payloads.

abstract class Notifier {
  abstract notify(request: { ref: string }): Promise<void>;
}

class Ack {
  @IsString() ref!: string;
  @IsString() by!: string;
}

@ServiceAdapter({ step: 'notify', service: 'notifier' })
class NotifyAdapter {
  @Input() @IsString() ref!: string;
  @Output() ackedBy?: string;
  @UseService(Notifier) notifier!: Notifier;

  async callService(): Promise<void> {
    await this.notifier.notify({ ref: this.ref });
  }

  @OnResponse('acked', { waitState: 'await-ack', payload: Ack, businessKey: { ref: 'ref' } })
  acked(answer: Ack): string {
    this.ackedBy = answer.by;
    return 'acked';
  }
}

const notifyProcess = defineProcess({
  id: 'notify',
  start: 'notify',
  steps: {
    notify: { kind: 'service', next: 'await-ack' },
    'await-ack': { kind: 'wait', transitions: { acked: 'done' } },
    done: { kind: 'end' },
  },
});

describeEachStore('message ids', () => {
  const temp = useTempDir();
  let h: Harness;
  let notifier: RecordingService;

  beforeEach(async () => {
    notifier = new RecordingService({ notify: undefined });
    h = await openHarness({
      file: temp.file(),
      definitions: [notifyProcess],
      adapters: [NotifyAdapter],
      services: { notifier: notifier.service },
      registry: { notifier: { transport: 'in-process', address: 'notifier' } },
    });
  });
  afterEach(() => h.close());

  async function waiting(ref: string): Promise<string> {
    const id = await h.engine.start('notify', { ref });
    await h.atStep(id, 'await-ack');
    return id;
  }

  describe('an empty id is no id', () => {
    it('coordinator.receive: two answers with messageId "" and different payloads are both handled', async () => {
      const a = await waiting('R-1');
      const b = await waiting('R-2');
      const first = { messageId: '', event: 'acked', payload: { ref: 'R-1', by: 'ann' } };
      const second = { messageId: '', event: 'acked', payload: { ref: 'R-2', by: 'bob' } };

      expect(await h.coordinator.receive(first)).toMatchObject({
        status: 'delivered',
        instanceId: a,
      });
      expect(await h.coordinator.receive(second)).toMatchObject({
        status: 'delivered',
        instanceId: b,
      });
      // The same content again is a duplicate, as for an answer without an id.
      expect(await h.coordinator.receive(first)).toEqual({ status: 'duplicate' });
      expect(
        await h.query('SELECT "messageId" FROM psi_inbound_message WHERE "messageId" = ?', ['']),
      ).toEqual([]);
    });

    it('in-process respond(…, { messageId: "" }) to two waiting instances delivers both', async () => {
      const a = await waiting('R-3');
      const b = await waiting('R-4');
      const [callA, callB] = notifier.calls;
      expect(
        await callA.context.respond('acked', { ref: 'R-3', by: 'cy' }, { messageId: '' }),
      ).toMatchObject({ status: 'delivered', instanceId: a });
      expect(
        await callB.context.respond('acked', { ref: 'R-4', by: 'di' }, { messageId: '' }),
      ).toMatchObject({ status: 'delivered', instanceId: b });
      expect((await h.engine.whenEnded(a)).variables.ackedBy).toBe('cy');
      expect((await h.engine.whenEnded(b)).variables.ackedBy).toBe('di');
    });
  });

  describe('ids are scoped by sender', () => {
    it("one sender reusing another's id does not make the other's answer a duplicate", async () => {
      const id = await waiting('R-5');
      // A caller of another channel (a callback token, say) sends first under the supplier's id.
      expect(
        await h.coordinator.receive({
          messageId: 'supplier-77',
          sender: 'http-callback:token-9',
          event: 'acked',
          payload: { ref: 'R-unrelated', by: 'mallory' },
        }),
      ).toMatchObject({ status: 'parked' });
      // The supplier's real answer, under the same id from its own channel, is delivered.
      expect(
        await h.coordinator.receive({
          messageId: 'supplier-77',
          sender: 'http',
          event: 'acked',
          payload: { ref: 'R-5', by: 'supplier' },
        }),
      ).toMatchObject({ status: 'delivered', instanceId: id });
      expect((await h.engine.whenEnded(id)).variables.ackedBy).toBe('supplier');
      const rows = await h.query<{ sender: string; messageId: string }>(
        'SELECT sender, "messageId" FROM psi_inbound_message ORDER BY sender',
      );
      expect(rows).toEqual([
        { sender: 'http', messageId: 'supplier-77' },
        { sender: 'http-callback:token-9', messageId: 'supplier-77' },
      ]);
    });

    it('a sender that repeats an id with the same content gets a duplicate', async () => {
      const id = await waiting('R-6');
      const answer = {
        messageId: 'kafka-1',
        sender: 'kafka:replies',
        event: 'acked',
        payload: { ref: 'R-6', by: 'kafka' },
      };
      expect(await h.coordinator.receive(answer)).toMatchObject({
        status: 'delivered',
        instanceId: id,
      });
      expect(await h.coordinator.receive({ ...answer, source: 'kafka:replies/0@17' })).toEqual({
        status: 'duplicate',
      });
    });

    it('a "duplicate" with other content is kept as a conflict with both payloads, never dropped', async () => {
      const id = await waiting('R-7');
      const first = {
        messageId: 'm-7',
        sender: 'http',
        event: 'acked',
        payload: { ref: 'R-7', by: 'first' },
      };
      expect(await h.coordinator.receive(first)).toMatchObject({
        status: 'delivered',
        instanceId: id,
      });
      const second = { ...first, payload: { ref: 'R-7', by: 'second' } };
      const outcome = await h.coordinator.receive(second);
      expect(outcome).toMatchObject({ status: 'dead-lettered', reason: 'conflict' });
      const [letter] = await h.coordinator.deadLetters.list({ reason: 'conflict' });
      expect(letter).toMatchObject({
        messageId: 'm-7',
        payload: { ref: 'R-7', by: 'second' },
        detail: {
          sender: 'http',
          first: {
            event: 'acked',
            correlationKey: null,
            businessKeys: [expect.any(String)],
            payload: { ref: 'R-7', by: 'first' },
          },
          firstReceivedAt: expect.any(Number),
        },
      });
      expect(h.coordinator.stats()).toMatchObject({ duplicates: 0, deadLettered: 1 });
      // The same conflicting content again is kept again: nothing is dropped.
      expect(await h.coordinator.receive(second)).toMatchObject({ reason: 'conflict' });
      expect((await h.engine.whenEnded(id)).variables.ackedBy).toBe('first');
    });
  });
});
