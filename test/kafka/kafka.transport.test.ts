import { PsiError, PsiErrorCode, type OutboundRequest, type ServiceCoordinates } from '@psi/core';
import {
  KafkaOptionsError,
  KafkaServiceHost,
  KafkaTransport,
  PsiKafkaHeader,
  UNKNOWN_KAFKA_EVENT,
  type KafkaServiceRequest,
} from '@psi/adapters/kafka';
import { fastOptions, ScriptedSink, uniqueName, useMockKafka, waitUntil } from './kafka-test-kit';

jest.setTimeout(25_000);

describe(KafkaTransport, () => {
  const kafka = useMockKafka();

  const request = (overrides: Partial<OutboundRequest> = {}): OutboundRequest => ({
    requestId: uniqueName('req'),
    correlationKey: uniqueName('corr'),
    service: 'supplier',
    operation: 'placeOrder',
    payload: { orderNo: 'PO-1', lines: [{ sku: 'A-1', qty: 2 }], note: 'ü ✓' },
    ...overrides,
  });

  describe('.send', () => {
    it('produces the request to the service topic with the PSI headers, and the answer reaches the sink', async () => {
      const requestTopic = uniqueName('supplier-requests');
      const replyTopic = uniqueName('psi-replies');
      await kafka.probe.ensureTopics([requestTopic, replyTopic]);
      const seen: KafkaServiceRequest[] = [];
      const host = new KafkaServiceHost({
        ...fastOptions(kafka.cluster),
        requestTopic,
        groupId: uniqueName('supplier'),
        handler: async (req, context) => {
          seen.push(req);
          await context.respond('orderConfirmed', { orderNo: 'PO-1', eta: '2025-01-31' });
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
      const req = request();

      const result = await transport.send(req, {
        service: 'supplier',
        transport: 'kafka',
        address: requestTopic,
      });

      expect(result).toEqual({ kind: 'accepted' });
      await waitUntil(() => sink.accepted.length === 1, 'the answer reached the sink');
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({
        requestId: req.requestId,
        correlationKey: req.correlationKey,
        operation: 'placeOrder',
        replyTo: replyTopic,
        payload: req.payload,
        topic: requestTopic,
        headers: {
          [PsiKafkaHeader.CorrelationKey]: req.correlationKey,
          [PsiKafkaHeader.MessageId]: req.requestId,
          [PsiKafkaHeader.ReplyTo]: replyTopic,
          [PsiKafkaHeader.Operation]: 'placeOrder',
        },
      });
      expect(sink.accepted[0]).toEqual({
        messageId: `${req.requestId}:orderConfirmed:1`,
        event: 'orderConfirmed',
        correlationKey: req.correlationKey,
        payload: { orderNo: 'PO-1', eta: '2025-01-31' },
        source: expect.stringMatching(new RegExp(`^kafka:${replyTopic}/\\d+@\\d+$`)),
        // Message ids are scoped by the topic (an HTTP caller cannot claim a derived one).
        sender: `kafka:${replyTopic}`,
      });
    });

    it('names the reply address of the coordinates (else the request`s) as x-psi-reply-to', async () => {
      const requestTopic = uniqueName('erp-requests');
      const seen: KafkaServiceRequest[] = [];
      const host = new KafkaServiceHost({
        ...fastOptions(kafka.cluster),
        requestTopic,
        groupId: uniqueName('erp'),
        handler: (req) => {
          seen.push(req);
        },
      });
      const transport = new KafkaTransport({
        ...fastOptions(kafka.cluster),
        groupId: uniqueName('psi'),
        replyTopics: ['unused-replies'],
      });
      kafka.cleanups.push(
        () => host.stop(),
        () => transport.stop(),
      );
      await host.start();
      const coordinates: ServiceCoordinates = {
        service: 'erp',
        transport: 'kafka',
        address: requestTopic,
      };

      await transport.send(request({ requestId: 'r-1' }), {
        ...coordinates,
        replyAddress: 'erp-replies',
      });
      await transport.send(request({ requestId: 'r-2', replyTo: 'request-replies' }), coordinates);

      await waitUntil(() => seen.length === 2, 'both requests reached the service');
      const replyTo = Object.fromEntries(seen.map((r) => [r.requestId, r.replyTo]));
      expect(replyTo).toEqual({ 'r-1': 'erp-replies', 'r-2': 'request-replies' });
    });

    it('fails technically, naming the topic, when no broker can be reached', async () => {
      const transport = new KafkaTransport({
        brokers: ['127.0.0.1:1'],
        logLevel: 'nothing',
        connectionTimeoutMs: 200,
        retry: { retries: 1, initialRetryTime: 50 },
      });
      kafka.cleanups.push(() => transport.stop());

      const error = await transport
        .send(request(), { service: 'supplier', transport: 'kafka', address: 'supplier-requests' })
        .catch((e: unknown) => e);

      expect(PsiError.is(error) && error.code).toBe(PsiErrorCode.TransportTechnical);
      expect((error as Error).message).toContain('"supplier-requests"');
    });

    it('fails technically when the send outlasts the timeout of the coordinates', async () => {
      const transport = new KafkaTransport({
        brokers: ['127.0.0.1:1'],
        logLevel: 'nothing',
        connectionTimeoutMs: 200,
        retry: { retries: 3, initialRetryTime: 200 },
      });
      kafka.cleanups.push(() => transport.stop());

      const error = await transport
        .send(request(), {
          service: 'supplier',
          transport: 'kafka',
          address: 'supplier-requests',
          timeoutMs: 100,
        })
        .catch((e: unknown) => e);

      expect(PsiError.is(error) && error.code).toBe(PsiErrorCode.TransportTechnical);
      expect((error as Error).message).toContain('timed out after 100 ms');
    });

    it('refuses to send after stop', async () => {
      const transport = new KafkaTransport({ ...fastOptions(kafka.cluster) });
      await transport.start(new ScriptedSink());
      await transport.stop();

      const error = await transport
        .send(request(), { service: 'supplier', transport: 'kafka', address: 'x' })
        .catch((e: unknown) => e);

      expect(PsiError.is(error) && error.code).toBe(PsiErrorCode.TransportTechnical);
    });
  });

  describe('.start', () => {
    it('hands answers of foreign producers to the sink, malformed ones included, with stable derived ids', async () => {
      const replyTopic = uniqueName('psi-replies');
      await kafka.probe.ensureTopics([replyTopic]);
      const transport = new KafkaTransport({
        ...fastOptions(kafka.cluster),
        groupId: uniqueName('psi'),
        replyTopics: [replyTopic],
      });
      const sink = new ScriptedSink();
      kafka.cleanups.push(() => transport.stop());
      await transport.start(sink);

      // One key: one partition, so the order below is the order of arrival.
      await kafka.probe.produce(replyTopic, [
        { key: 'k', value: 'this is not JSON' },
        {
          key: 'k',
          value: JSON.stringify({ event: 'shipped', payload: { parcel: 7 } }),
          headers: { [PsiKafkaHeader.CorrelationKey]: 'c-1' },
        },
        {
          key: 'k',
          value: JSON.stringify({ orderNo: 'PO-9' }),
          headers: { [PsiKafkaHeader.Event]: 'confirmed', [PsiKafkaHeader.MessageId]: 'm-3' },
        },
        { key: 'k', value: 'late and broken', headers: { [PsiKafkaHeader.Event]: 'confirmed' } },
      ]);

      await waitUntil(() => sink.accepted.length === 4, 'four answers reached the sink');
      const [malformed, envelope, bare, brokenWithEvent] = sink.accepted;
      const partitionAndOffset = /^kafka:[^/]+\/(\d+)@(\d+)$/.exec(malformed!.source!)!;
      expect(malformed).toEqual({
        event: UNKNOWN_KAFKA_EVENT,
        payload: 'this is not JSON',
        messageId: `${replyTopic}:${partitionAndOffset[1]}:${partitionAndOffset[2]}`,
        correlationKey: undefined,
        source: malformed!.source,
        sender: `kafka:${replyTopic}`,
      });
      expect(envelope).toMatchObject({
        event: 'shipped',
        payload: { parcel: 7 },
        correlationKey: 'c-1',
      });
      expect(envelope!.messageId).toMatch(new RegExp(`^${replyTopic}:\\d+:\\d+$`));
      expect(bare).toMatchObject({
        event: 'confirmed',
        payload: { orderNo: 'PO-9' },
        messageId: 'm-3',
      });
      expect(brokenWithEvent).toMatchObject({ event: 'confirmed', payload: 'late and broken' });
    });

    it('fails technically when no broker can be reached', async () => {
      const transport = new KafkaTransport({
        brokers: ['127.0.0.1:1'],
        logLevel: 'nothing',
        connectionTimeoutMs: 200,
        retry: { retries: 1, initialRetryTime: 50 },
        groupId: 'psi',
        replyTopics: ['replies'],
      });
      kafka.cleanups.push(() => transport.stop());

      const error = await transport.start(new ScriptedSink()).catch((e: unknown) => e);

      expect(PsiError.is(error) && error.code).toBe(PsiErrorCode.TransportTechnical);
    });
  });

  describe('options', () => {
    it.each([
      [{ brokers: [] }, /"brokers"/],
      [{ brokers: ['b:9092'], replyTopics: ['replies'] }, /"groupId" is required/],
      [{ brokers: ['b:9092'], redelivery: { initialDelayMs: -1 } }, /"redelivery.initialDelayMs"/],
      [{ brokers: ['b:9092'], receiveConcurrency: 0 }, /"receiveConcurrency"/],
      [
        { brokers: ['b:9092'], receiveConcurrency: 2.5 },
        /"receiveConcurrency" must be a positive integer/,
      ],
    ])('rejects %j', (options, message) => {
      expect(() => new KafkaTransport(options)).toThrow(KafkaOptionsError);
      expect(() => new KafkaTransport(options)).toThrow(message);
    });
  });
});
