import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsString } from 'class-validator';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  TestClock,
  useTempDir,
  type Harness,
} from './fixtures';

// Semantic 4: dedupe. A second message with the same id within the window is acknowledged as a
// duplicate, ignored and counted (in stats and in psi_inbound_message.duplicates); after the
// window it is processed again.

abstract class Notifier {
  abstract notify(request: { ref: string }): Promise<void>;
}

class Ack {
  @IsString() ref!: string;
}

@ServiceAdapter({ step: 'notify', service: 'notifier' })
class NotifyAdapter {
  @Input() @IsString() ref!: string;
  @Input() acks?: number;
  @Output('acks') out?: number;
  @UseService(Notifier) notifier!: Notifier;

  async callService(): Promise<void> {
    await this.notifier.notify({ ref: this.ref });
  }

  @OnResponse('acked', { waitState: 'await-ack', payload: Ack, businessKey: { ref: 'ref' } })
  acked(): string {
    this.out = (this.acks ?? 0) + 1;
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

describeEachStore('dedupe', () => {
  const temp = useTempDir();
  let h: Harness;

  async function open(options: { clock?: TestClock; dedupeWindowMs?: number } = {}): Promise<void> {
    h = await openHarness({
      file: temp.file(),
      definitions: [notifyProcess],
      adapters: [NotifyAdapter],
      services: { notifier: new RecordingService({ notify: undefined }).service },
      registry: { notifier: { transport: 'in-process', address: 'notifier' } },
      clock: options.clock?.now,
      coordinator: { dedupeWindowMs: options.dedupeWindowMs },
    });
  }
  afterEach(() => h.close());

  it('acknowledges and ignores a second message with the same id, and counts it', async () => {
    await open();
    const id = await h.engine.start('notify', { ref: 'R-1' });
    await h.atStep(id, 'await-ack');
    const message = { messageId: 'msg-1', event: 'acked', payload: { ref: 'R-1' } };

    expect(await h.coordinator.receive(message)).toMatchObject({
      status: 'delivered',
      instanceId: id,
    });
    expect(await h.coordinator.receive(message)).toEqual({ status: 'duplicate' });
    expect(await h.coordinator.receive(message)).toEqual({ status: 'duplicate' });

    const final = await h.engine.whenEnded(id);
    expect(final.variables.acks).toBe(1);
    expect(h.coordinator.stats()).toMatchObject({
      received: 3,
      duplicates: 2,
      delivered: 1,
      deadLettered: 0,
    });
    expect(await h.query('SELECT "messageId", duplicates FROM psi_inbound_message')).toEqual([
      { messageId: 'msg-1', duplicates: 2 },
    ]);
    expect(await h.coordinator.deadLetters.list()).toEqual([]);
    expect(h.traces.filter((e) => e.kind === 'duplicate').map((e) => e.detail?.messageId)).toEqual([
      'msg-1',
      'msg-1',
    ]);
  });

  it('derives an id from the content when the transport gives none, so an identical re-send is a duplicate', async () => {
    await open();
    const id = await h.engine.start('notify', { ref: 'R-2' });
    await h.atStep(id, 'await-ack');
    const message = { event: 'acked', payload: { ref: 'R-2' } };

    expect(await h.coordinator.receive(message)).toMatchObject({ status: 'delivered' });
    expect(await h.coordinator.receive({ ...message })).toEqual({ status: 'duplicate' });
    const rows = await h.query<{ duplicates: number }>(
      'SELECT duplicates FROM psi_inbound_message',
    );
    expect(rows).toEqual([{ duplicates: 1 }]);
    expect((await h.engine.whenEnded(id)).variables.acks).toBe(1);
  });

  it('remembers an id only with what became of the message: a redelivery after a failure between match and claim is handled, not ignored', async () => {
    await open();
    const id = await h.engine.start('notify', { ref: 'R-3' });
    await h.atStep(id, 'await-ack');
    const message = { messageId: 'msg-3', event: 'acked', payload: { ref: 'R-3' } };
    // The release the wait state's entry started reads the engine too: let it finish first.
    await h.coordinator.idle();
    // The node fails (here: its engine) after matching the answer, before claiming or parking it;
    // the transport redelivers.
    jest.spyOn(h.engine, 'getWaitStates').mockRejectedValueOnce(new Error('engine unreachable'));
    await expect(h.coordinator.receive(message)).rejects.toThrow('engine unreachable');
    expect(await h.query('SELECT "messageId" FROM psi_inbound_message')).toEqual([]);

    expect(await h.coordinator.receive(message)).toMatchObject({
      status: 'delivered',
      instanceId: id,
    });
    expect((await h.engine.whenEnded(id)).variables.acks).toBe(1);
    expect(await h.coordinator.receive(message)).toEqual({ status: 'duplicate' });
    expect(await h.query('SELECT "messageId", duplicates FROM psi_inbound_message')).toEqual([
      { messageId: 'msg-3', duplicates: 1 },
    ]);
  });

  it('respects dedupeWindowMs: after the window the same id is processed again', async () => {
    const clock = new TestClock();
    await open({ clock, dedupeWindowMs: 1_000 });
    const message = { messageId: 'orphan-1', event: 'acked', payload: { ref: 'nobody' } };

    expect(await h.coordinator.receive(message)).toMatchObject({ status: 'parked' });
    clock.advance(999);
    expect(await h.coordinator.receive(message)).toEqual({ status: 'duplicate' });
    clock.advance(2);
    // Outside the window: handled as a new message (parked again, nobody expects it).
    expect(await h.coordinator.receive(message)).toMatchObject({ status: 'parked' });
    clock.advance(500);
    expect(await h.coordinator.receive(message)).toEqual({ status: 'duplicate' });

    expect(h.coordinator.stats()).toMatchObject({ received: 4, duplicates: 2, parked: 2 });
    const [row] = await h.query<{ receivedAt: number; duplicates: number }>(
      'SELECT "receivedAt", duplicates FROM psi_inbound_message WHERE "messageId" = ?',
      ['orphan-1'],
    );
    expect(Number(row.receivedAt)).toBe(clock.current - 500);
    expect(row.duplicates).toBe(2);
    expect(await h.query('SELECT "messageId" FROM psi_parked_message')).toHaveLength(2);
  });
});
