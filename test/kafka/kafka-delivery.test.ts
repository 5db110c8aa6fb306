import type { InboundMessage } from '@psi/core';
import { KafkaTransport, PsiKafkaHeader, type KafkaErrorContext } from '@psi/adapters/kafka';
import { fastOptions, ScriptedSink, uniqueName, useMockKafka, waitUntil } from './kafka-test-kit';

jest.setTimeout(30_000);

/** At-least-once delivery of answers: commit after receive, redelivery, restart, rebalance. */
describe('KafkaTransport delivery', () => {
  const kafka = useMockKafka();

  interface Answer {
    key: string;
    value: string;
    headers: Record<string, string>;
    partition?: number;
  }
  const answer = (n: number, headers: Record<string, string> = {}): Answer => ({
    key: 'order-1',
    value: JSON.stringify({ event: 'confirmed', payload: { n } }),
    headers: { [PsiKafkaHeader.CorrelationKey]: 'corr-1', ...headers },
  });
  const partitionAndOffset = (message: InboundMessage): [number, number] => {
    const match = /\/(\d+)@(\d+)$/.exec(message.source!)!;
    return [Number(match[1]), Number(match[2])];
  };

  it('commits an answer only after receive resolved, redelivers a refused one with the same id, and does not redeliver it after a restart', async () => {
    const topic = uniqueName('psi-replies');
    const groupId = uniqueName('psi');
    await kafka.probe.ensureTopics([topic]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const errors: KafkaErrorContext[] = [];
    // Attempt 1 fails (store down); attempt 2 hangs until the test releases it.
    const sink = new ScriptedSink((_message, attempt) => attempt === 1);
    const receive = sink.receive.bind(sink);
    let calls = 0;
    sink.receive = async (message) => {
      calls += 1;
      if (calls === 2) await gate;
      return receive(message);
    };
    const first = new KafkaTransport({
      ...fastOptions(kafka.cluster),
      groupId,
      replyTopics: [topic],
      onError: (_error, context) => errors.push(context),
    });
    kafka.cleanups.push(
      () => first.stop(),
      async () => release(),
    );
    await first.start(sink);

    await kafka.probe.produce(topic, [answer(1)]);
    await waitUntil(() => calls === 2, 'the refused answer came again');
    const [partition, offset] = partitionAndOffset(sink.attempts[0]!);
    expect(errors).toEqual([
      { kind: 'receive', topic, partition, offset: String(offset), retryInMs: 50 },
    ]);
    expect((await kafka.probe.committedOffsets(groupId, topic)).get(partition)).toBe(-1);
    // Stopping while receive is in flight: the message finishes (and commits) first.
    const stopping = first.stop();
    release();
    await stopping;

    expect(sink.accepted).toHaveLength(1);
    expect(sink.attempts[1]!.messageId).toBe(sink.attempts[0]!.messageId);
    expect(sink.attempts[1]!.messageId).toBe(`${topic}:${partition}:${offset}`);
    expect((await kafka.probe.committedOffsets(groupId, topic)).get(partition)).toBe(offset + 1);

    const restartedSink = new ScriptedSink();
    const restarted = new KafkaTransport({
      ...fastOptions(kafka.cluster),
      groupId,
      replyTopics: [topic],
    });
    kafka.cleanups.push(() => restarted.stop());
    await restarted.start(restartedSink);
    await kafka.probe.produce(topic, [answer(2)]);

    await waitUntil(
      () => restartedSink.accepted.length >= 1,
      'the restarted transport received the new answer',
    );
    // Same key, same partition: a redelivered first answer would have come before the second.
    expect(restartedSink.attempts.map((m) => m.payload)).toEqual([{ n: 2 }]);
  });

  it('keeps a header message id across redeliveries, and other partitions flow while one is retried', async () => {
    const topic = uniqueName('psi-replies');
    await kafka.probe.ensureTopics([topic]);
    // The stuck answer is refused until every other answer got through.
    const sink: ScriptedSink = new ScriptedSink(
      (message) => message.messageId === 'stuck' && sink.accepted.length < 6,
    );
    const transport = new KafkaTransport({
      ...fastOptions(kafka.cluster),
      groupId: uniqueName('psi'),
      replyTopics: [topic],
      onError: () => undefined,
    });
    kafka.cleanups.push(() => transport.stop());
    await transport.start(sink);

    await kafka.probe.produce(topic, [
      { ...answer(1, { [PsiKafkaHeader.MessageId]: 'stuck' }), partition: 0 },
    ]);
    await waitUntil(() => sink.attempts.length >= 2, 'the stuck answer was retried');
    const others = [1, 2, 3, 1, 2, 3].map((partition, i) => ({
      ...answer(i + 2, { [PsiKafkaHeader.MessageId]: `other-${i}` }),
      partition,
    }));
    await kafka.probe.produce(topic, others);

    await waitUntil(() => sink.accepted.length === 7, 'every answer was accepted');
    expect(sink.accepted.map((m) => m.messageId).sort()).toEqual(
      ['stuck', ...others.map((m) => m.headers[PsiKafkaHeader.MessageId]!)].sort(),
    );
    expect(sink.accepted.at(-1)!.messageId).toBe('stuck');
    const stuckAttempts = sink.attempts.filter((m) => m.messageId === 'stuck');
    expect(stuckAttempts.length).toBeGreaterThan(2);
    expect(new Set(stuckAttempts.map((m) => m.source))).toEqual(new Set([`kafka:${topic}/0@0`]));
  });

  it('shares the reply partitions between two nodes of one group, and loses nothing when one stops', async () => {
    const topic = uniqueName('psi-replies');
    const groupId = uniqueName('psi');
    await kafka.probe.ensureTopics([topic]);
    const sinkA = new ScriptedSink();
    const sinkB = new ScriptedSink();
    const nodeA = new KafkaTransport({
      ...fastOptions(kafka.cluster),
      clientId: 'node-a',
      groupId,
      replyTopics: [topic],
    });
    const nodeB = new KafkaTransport({
      ...fastOptions(kafka.cluster),
      clientId: 'node-b',
      groupId,
      replyTopics: [topic],
    });
    kafka.cleanups.push(
      () => nodeA.stop(),
      () => nodeB.stop(),
    );
    const owned = (node: KafkaTransport): number[] => node.currentAssignment()[topic] ?? [];
    const batch = (from: number) =>
      Array.from({ length: 12 }, (_, i) => ({
        ...answer(from + i, { [PsiKafkaHeader.MessageId]: `m-${from + i}` }),
        key: `order-${from + i}`,
      }));
    const receivedIds = (): Set<string> =>
      new Set([...sinkA.accepted, ...sinkB.accepted].map((m) => m.messageId!));

    await nodeA.start(sinkA);
    await waitUntil(() => owned(nodeA).length === 4, 'node A owns every partition');
    await nodeB.start(sinkB);
    await waitUntil(
      () => owned(nodeA).length + owned(nodeB).length === 4 && owned(nodeB).length > 0,
      'the group rebalanced',
    );
    expect(new Set([...owned(nodeA), ...owned(nodeB)])).toEqual(new Set([0, 1, 2, 3]));
    await kafka.probe.produce(topic, batch(0));
    await waitUntil(() => receivedIds().size === 12, 'both nodes received the first batch');
    expect(sinkA.accepted.length).toBeGreaterThan(0);
    expect(sinkB.accepted.length).toBeGreaterThan(0);

    await Promise.all([nodeA.stop(), kafka.probe.produce(topic, batch(12))]);

    await waitUntil(() => receivedIds().size === 24, 'node B received what node A left');
    expect(receivedIds()).toEqual(new Set(Array.from({ length: 24 }, (_, i) => `m-${i}`)));
    expect(owned(nodeB)).toHaveLength(4);
  });
});
