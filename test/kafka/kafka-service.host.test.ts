import {
  KafkaPoisonHeader,
  KafkaReplyToMissingError,
  KafkaServiceHost,
  KafkaTransport,
  type KafkaServiceRequest,
} from '@psi/adapters/kafka';
import { PsiError } from '@psi/core';
import { fastOptions, ScriptedSink, uniqueName, useMockKafka, waitUntil } from './kafka-test-kit';

jest.setTimeout(25_000);

describe(KafkaServiceHost, () => {
  const kafka = useMockKafka();

  it('handles a request again when the handler failed, answering with the same message ids', async () => {
    const requestTopic = uniqueName('supplier-requests');
    const replyTopic = uniqueName('psi-replies');
    await kafka.probe.ensureTopics([requestTopic, replyTopic]);
    const runs: KafkaServiceRequest[] = [];
    const host = new KafkaServiceHost({
      ...fastOptions(kafka.cluster),
      requestTopic,
      groupId: uniqueName('supplier'),
      onError: () => undefined,
      handler: async (request, context) => {
        runs.push(request);
        await context.respond('orderReceived', { run: runs.length });
        if (runs.length === 1) throw new Error('printer jammed after answering');
      },
    });
    const transport = new KafkaTransport({
      ...fastOptions(kafka.cluster),
      groupId: uniqueName('psi'),
      replyTopics: [replyTopic],
    });
    const sink = new ScriptedSink();
    kafka.cleanups.push(
      () => host.stop(),
      () => transport.stop(),
    );
    await Promise.all([host.start(), transport.start(sink)]);

    await transport.send(
      {
        requestId: 'req-1',
        correlationKey: 'corr-1',
        service: 'supplier',
        operation: 'placeOrder',
        payload: {},
      },
      { service: 'supplier', transport: 'kafka', address: requestTopic },
    );

    await waitUntil(() => sink.accepted.length === 2, 'both answers reached PSI');
    expect(runs.map((r) => r.requestId)).toEqual(['req-1', 'req-1']);
    expect(sink.accepted.map((m) => [m.messageId, m.correlationKey, m.payload])).toEqual([
      ['req-1:orderReceived:1', 'corr-1', { run: 1 }],
      ['req-1:orderReceived:1', 'corr-1', { run: 2 }],
    ]);
  });

  it('sets a request the handler keeps failing on aside on the poison topic, and goes on with the next', async () => {
    const requestTopic = uniqueName('supplier-requests');
    await kafka.probe.ensureTopics([requestTopic, `${requestTopic}.poison`]);
    const runs: string[] = [];
    const host = new KafkaServiceHost({
      ...fastOptions(kafka.cluster),
      requestTopic,
      groupId: uniqueName('supplier'),
      maxAttempts: 3,
      onError: () => undefined,
      handler: (request) => {
        runs.push(String(request.operation));
        if (request.operation === 'jam') throw new Error('printer jammed for good');
      },
    });
    kafka.cleanups.push(() => host.stop());
    await host.start();

    // One partition (same key), so the good request waits behind the poison one.
    await kafka.probe.produce(requestTopic, [
      { key: 'k', value: JSON.stringify({ operation: 'jam', payload: { n: 1 } }) },
      { key: 'k', value: JSON.stringify({ operation: 'placeOrder', payload: { n: 2 } }) },
    ]);

    await waitUntil(() => runs.includes('placeOrder'), 'the next request was handled');
    expect(runs).toEqual(['jam', 'jam', 'jam', 'placeOrder']);
    const [aside] = await kafka.probe.read(`${requestTopic}.poison`, 1);
    expect(JSON.parse(String(aside.value))).toEqual({ operation: 'jam', payload: { n: 1 } });
    const header = (name: string): string => String(aside.headers?.[name]);
    expect(header(KafkaPoisonHeader.Reason)).toBe('handler-failed');
    expect(header(KafkaPoisonHeader.Error)).toBe('printer jammed for good');
    expect(header(KafkaPoisonHeader.Attempts)).toBe('3');
    expect(header(KafkaPoisonHeader.Source)).toMatch(new RegExp(`^${requestTopic}:\\d+:0$`));
  });

  it('refuses to answer a request that names no reply topic when it has no default', async () => {
    const requestTopic = uniqueName('supplier-requests');
    await kafka.probe.ensureTopics([requestTopic]);
    const errors: unknown[] = [];
    const host = new KafkaServiceHost({
      ...fastOptions(kafka.cluster),
      requestTopic,
      groupId: uniqueName('supplier'),
      handler: async (_request, context) => {
        await context.respond('orderReceived', {}).catch((error: unknown) => errors.push(error));
      },
    });
    kafka.cleanups.push(() => host.stop());
    await host.start();

    await kafka.probe.produce(requestTopic, [
      { value: JSON.stringify({ operation: 'placeOrder', payload: {} }) },
    ]);

    await waitUntil(() => errors.length === 1, 'the handler tried to answer');
    expect(errors[0]).toBeInstanceOf(KafkaReplyToMissingError);
    expect(PsiError.is(errors[0]) && errors[0].code).toBe('PSI_KAFKA_REPLY_TO_MISSING');
  });
});
