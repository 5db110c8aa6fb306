import type { InboundMessage, InboundSink, ReceiveOutcome } from '@psi/core';
import { KafkaTransport, PsiKafkaHeader, type KafkaErrorContext } from '@psi/adapters/kafka';
import { fastOptions, uniqueName, useMockKafka, waitUntil } from './kafka-test-kit';

jest.setTimeout(45_000);

/** Wraps `receive` behaviour per attempt; counts attempts, receives in flight and accepted ones. */
class ConcurrentSink implements InboundSink {
  readonly attempts: InboundMessage[] = [];
  readonly accepted: InboundMessage[] = [];
  inFlight = 0;
  maxInFlight = 0;

  constructor(
    private readonly behave: (message: InboundMessage, attempt: number) => Promise<void> = () =>
      Promise.resolve(),
  ) {}

  async receive(message: InboundMessage): Promise<ReceiveOutcome> {
    const attempt = this.attempts.filter((m) => m.messageId === message.messageId).length + 1;
    this.attempts.push(message);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await this.behave(message, attempt);
    } finally {
      this.inFlight -= 1;
    }
    this.accepted.push(message);
    return { status: 'parked', parkedId: `parked-${this.accepted.length}` };
  }

  acceptedIds(): Set<string> {
    return new Set(this.accepted.map((m) => m.messageId!));
  }
}

/** A promise the test opens once; every receive waiting on it continues then. */
function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

const ids = (from: number, to: number): string[] =>
  Array.from({ length: to - from }, (_, i) => `m-${from + i}`);

/**
 * The reply consumer hands the answers of one fetched partition batch to `receive` concurrently
 * and commits only the prefix whose receives resolved.
 */
describe('KafkaTransport concurrent receive', () => {
  const kafka = useMockKafka();

  /** `count` answers on partition 0, ids m-0…, produced in one send (one fetched batch). */
  async function produceAnswers(topic: string, count: number): Promise<void> {
    await kafka.probe.ensureTopics([topic]);
    await kafka.probe.produce(
      topic,
      Array.from({ length: count }, (_, n) => ({
        key: `order-${n}`,
        partition: 0,
        value: JSON.stringify({ event: 'confirmed', payload: { n } }),
        headers: {
          [PsiKafkaHeader.CorrelationKey]: `corr-${n}`,
          [PsiKafkaHeader.MessageId]: `m-${n}`,
        },
      })),
    );
  }

  const committed = async (groupId: string, topic: string): Promise<number> =>
    (await kafka.probe.committedOffsets(groupId, topic)).get(0) ?? -1;

  it('hands a batch to receive concurrently, at most receiveConcurrency at once, and commits all of it', async () => {
    const topic = uniqueName('psi-replies');
    const groupId = uniqueName('psi');
    await produceAnswers(topic, 200);
    const held = gate();
    const sink = new ConcurrentSink(() => held.opened);
    const transport = new KafkaTransport({
      ...fastOptions(kafka.cluster),
      groupId,
      replyTopics: [topic],
      receiveConcurrency: 8,
    });
    kafka.cleanups.push(
      () => transport.stop(),
      async () => held.open(),
    );
    await transport.start(sink);

    await waitUntil(() => sink.inFlight === 8, '8 receives are in flight at once');
    expect(await committed(groupId, topic)).toBe(-1); // nothing resolved yet, nothing committed
    held.open();

    await waitUntil(async () => (await committed(groupId, topic)) === 200, 'all 200 committed');
    expect(sink.maxInFlight).toBe(8);
    expect(sink.attempts).toHaveLength(200); // each once: nothing failed, nothing came again
    expect(sink.acceptedIds()).toEqual(new Set(ids(0, 200)));
  });

  it('commits only up to a receive that fails mid-batch, and the partition comes again from that answer', async () => {
    const topic = uniqueName('psi-replies');
    const groupId = uniqueName('psi');
    await produceAnswers(topic, 20);
    const retried = gate();
    const errors: KafkaErrorContext[] = [];
    let attemptsBeforeFailure = -1;
    // m-7 fails the first time, once every answer after it was received; its redelivery waits
    // for the test. Default receiveConcurrency (32): the whole batch is in flight at once.
    const sink: ConcurrentSink = new ConcurrentSink(async (message, attempt) => {
      if (message.messageId !== 'm-7') return;
      if (attempt === 1) {
        await waitUntil(
          () => ids(8, 20).every((id) => sink.acceptedIds().has(id)),
          'the answers after m-7 were received',
          30_000,
        );
        attemptsBeforeFailure = sink.attempts.length;
        throw new Error('store down (simulated)');
      }
      await retried.opened;
    });
    const transport = new KafkaTransport({
      ...fastOptions(kafka.cluster),
      groupId,
      replyTopics: [topic],
      onError: (_error, context) => errors.push(context),
    });
    kafka.cleanups.push(
      () => transport.stop(),
      async () => retried.open(),
    );
    await transport.start(sink);

    await waitUntil(
      () => sink.attempts.filter((m) => m.messageId === 'm-7').length === 2,
      'm-7 came again',
    );
    // Received after m-7 failed, but not committed: the offset stops at m-7.
    expect(await committed(groupId, topic)).toBe(7);
    expect(errors).toEqual([{ kind: 'receive', topic, partition: 0, offset: '7', retryInMs: 50 }]);
    retried.open();

    await waitUntil(async () => (await committed(groupId, topic)) === 20, 'all 20 committed');
    expect(sink.acceptedIds()).toEqual(new Set(ids(0, 20)));
    const attemptsOf = (id: string): number =>
      sink.attempts.filter((m) => m.messageId === id).length;
    // Before m-7: received once, never again. From m-7 on: fetched again from m-7 (the ones
    // received in the first pass come again: at least once, PSI dedupes them by message id).
    expect(ids(0, 7).map(attemptsOf)).toEqual(Array(7).fill(1));
    expect(ids(7, 20).map(attemptsOf)).toEqual(Array(13).fill(2));
    expect(sink.attempts.slice(attemptsBeforeFailure).map((m) => m.messageId)).toEqual(ids(7, 20));
  });

  it('keeps heartbeating while a receive outlasts the session timeout, so the partition is not taken away', async () => {
    const topic = uniqueName('psi-replies');
    const groupId = uniqueName('psi');
    await produceAnswers(topic, 10);
    const settings = fastOptions(kafka.cluster);
    const sessionTimeout = settings.consumer!.sessionTimeout!;
    // m-3 is slow on purpose: it takes longer than a whole session without heartbeats.
    const sink = new ConcurrentSink(async (message) => {
      if (message.messageId !== 'm-3') return;
      const until = Date.now() + sessionTimeout + 1_500;
      await waitUntil(() => Date.now() >= until, 'the slow receive is over', sessionTimeout * 3);
    });
    const transport = new KafkaTransport({ ...settings, groupId, replyTopics: [topic] });
    kafka.cleanups.push(() => transport.stop());
    await transport.start(sink);

    await waitUntil(async () => (await committed(groupId, topic)) === 10, 'all 10 committed');
    expect(sink.attempts).toHaveLength(10); // none came again: the member kept its partition
  });

  it('stop while a batch is in flight: the receives in hand finish and are committed, the next consumer gets the rest', async () => {
    const topic = uniqueName('psi-replies');
    const groupId = uniqueName('psi');
    await produceAnswers(topic, 100);
    const held = gate();
    const first = new ConcurrentSink(() => held.opened);
    const options = {
      ...fastOptions(kafka.cluster),
      groupId,
      replyTopics: [topic],
      receiveConcurrency: 8,
    };
    const stopped = new KafkaTransport(options);
    kafka.cleanups.push(
      () => stopped.stop(),
      async () => held.open(),
    );
    await stopped.start(first);
    await waitUntil(() => first.inFlight === 8, '8 receives are in flight');

    const stopping = stopped.stop();
    held.open();
    await stopping;

    // The 8 in hand finished and were committed; nothing was started after stop.
    expect(first.attempts.map((m) => m.messageId)).toEqual(ids(0, 8));
    expect(first.accepted.map((m) => m.messageId).sort()).toEqual(ids(0, 8).sort());
    expect(await committed(groupId, topic)).toBe(8);

    const next = new ConcurrentSink();
    const restarted = new KafkaTransport(options);
    kafka.cleanups.push(() => restarted.stop());
    await restarted.start(next);
    await waitUntil(async () => (await committed(groupId, topic)) === 100, 'all 100 committed');
    expect(next.attempts.map((m) => m.messageId).sort()).toEqual(ids(8, 100).sort());
    expect(new Set([...first.acceptedIds(), ...next.acceptedIds()])).toEqual(new Set(ids(0, 100)));
  });
});
