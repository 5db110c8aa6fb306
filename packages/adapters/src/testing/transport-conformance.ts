/// <reference types="jest" />
import {
  PsiError,
  PsiErrorCode,
  type TransportBusinessError,
  type DispatchResult,
  type OutboundRequest,
  type ServiceCoordinates,
  type Transport,
} from '@psi/core';
import { RecordingSink } from './recording.sink';

/** What a hosted test service learns about a call, and how it answers asynchronously. */
export interface ConformanceCallContext {
  correlationKey: string;
  requestId: string;
  operation: string;
  /**
   * Sends an answer back to PSI the way a real service would over this transport (HTTP POST to
   * the reply address, a reply topic...), carrying the call's correlation key. Resolves once the
   * sink accepted it; rejects when it was refused.
   */
  respondLater(event: string, payload: unknown, options?: { messageId?: string }): Promise<void>;
}

/**
 * One operation of a test service: return a value for a synchronous reply, `undefined` for
 * "accepted, the answer comes later", or throw a {@link ConformanceFailure} (or anything else,
 * which counts as a technical failure).
 */
export type ConformanceOperation = (payload: unknown, context: ConformanceCallContext) => unknown;

/** A test service: operation name → implementation. */
export type ConformanceService = Record<string, ConformanceOperation>;

/**
 * Thrown by a test operation to fail in a transport-neutral way; the harness turns it into what
 * the transport uses (HTTP 4xx / 5xx, a thrown TransportBusinessError...).
 */
export class ConformanceFailure extends Error {
  constructor(
    readonly kind: 'business' | 'technical',
    readonly body?: unknown,
  ) {
    super(`Conformance test service fails (${kind})`);
    this.name = 'ConformanceFailure';
  }
}

/** What a transport plugin provides so the suite can exercise it. */
export interface TransportConformanceHarness {
  /** The transport under test, not yet started: the suite starts it with a recording sink. */
  readonly transport: Transport;
  /** Hosts `operations` as service `service`, reachable through the transport. */
  hostService(service: string, operations: ConformanceService): Promise<void>;
  /** Coordinates of a hosted service, as a registry would return them. */
  coordinates(service: string): ServiceCoordinates;
  /** Coordinates where nothing answers: sending there must be a technical failure. */
  unreachableCoordinates(service: string): ServiceCoordinates;
  /** Releases everything the harness created; called after `transport.stop()`. */
  teardown(): Promise<void>;
}

/** Builds a fresh harness per test. */
export type TransportConformanceFactory = () => Promise<TransportConformanceHarness>;

/**
 * The behaviour every transport must show, as a jest `describe` block: synchronous replies,
 * asynchronous answers carrying the correlation key, stable message ids, technical vs business
 * failures, and a `stop` that loses nothing. Call it from a test file of the plugin.
 */
export function describeTransportConformance(
  name: string,
  factory: TransportConformanceFactory,
): void {
  describe(`${name} transport conformance`, () => {
    let harness: TransportConformanceHarness;
    let sink: RecordingSink;
    let sequence = 0;

    const request = (service: string, operation: string, payload: unknown): OutboundRequest => {
      sequence += 1;
      return {
        requestId: `req-${sequence}-${Math.random().toString(36).slice(2)}`,
        correlationKey: `corr-${sequence}-${Math.random().toString(36).slice(2)}`,
        service,
        operation,
        payload,
      };
    };
    const send = (req: OutboundRequest): Promise<DispatchResult> =>
      harness.transport.send(req, harness.coordinates(req.service));

    beforeEach(async () => {
      harness = await factory();
      sink = new RecordingSink();
      await harness.transport.start(sink);
    });

    afterEach(async () => {
      await harness.transport.stop();
      await harness.teardown();
    });

    it('returns a synchronous reply with the payload the service returned', async () => {
      await harness.hostService('erp', {
        insertOrder: (payload) => ({ accepted: true, echo: payload }),
      });
      const payload = { orderNo: 'PO-1', lines: [{ sku: 'A', qty: 2 }], note: 'ü ✓' };

      await expect(send(request('erp', 'insertOrder', payload))).resolves.toEqual({
        kind: 'reply',
        payload: { accepted: true, echo: payload },
      });
    });

    it('propagates correlation key, request id, operation and payload to the service', async () => {
      const seen: Array<{ payload: unknown; context: ConformanceCallContext }> = [];
      await harness.hostService('erp', {
        insertOrder: (payload, context) => {
          seen.push({ payload, context });
          return { ok: true };
        },
      });
      const req = request('erp', 'insertOrder', { orderNo: 'PO-2' });

      await send(req);

      expect(seen).toHaveLength(1);
      expect(seen[0]!.payload).toEqual({ orderNo: 'PO-2' });
      expect(seen[0]!.context).toMatchObject({
        correlationKey: req.correlationKey,
        requestId: req.requestId,
        operation: 'insertOrder',
      });
    });

    it('is accepted when the service answers later, and the answer reaches the sink with the correlation key', async () => {
      const calls: ConformanceCallContext[] = [];
      await harness.hostService('supplier', {
        placeOrder: (_payload, context) => {
          calls.push(context);
          return undefined;
        },
      });
      const req = request('supplier', 'placeOrder', { orderNo: 'PO-3' });

      await expect(send(req)).resolves.toEqual({ kind: 'accepted' });
      expect(sink.messages).toHaveLength(0);
      await calls[0]!.respondLater('orderConfirmed', { orderNo: 'PO-3', eta: '2025-01-31' });

      const answer = await sink.nth(1);
      expect(answer).toMatchObject({
        event: 'orderConfirmed',
        correlationKey: req.correlationKey,
        payload: { orderNo: 'PO-3', eta: '2025-01-31' },
      });
    });

    it('keeps the answers of concurrent requests apart by correlation key', async () => {
      const calls: Array<{ payload: unknown; context: ConformanceCallContext }> = [];
      await harness.hostService('supplier', {
        placeOrder: (payload, context) => {
          calls.push({ payload, context });
          return undefined;
        },
      });
      const requests = [1, 2, 3].map((n) => request('supplier', 'placeOrder', { n }));

      await Promise.all(requests.map(send));
      for (const call of [...calls].reverse()) {
        await call.context.respondLater('orderConfirmed', call.payload);
      }

      const answers = await sink.waitFor(3);
      for (const req of requests) {
        const answer = answers.find((m) => m.correlationKey === req.correlationKey);
        expect(answer?.payload).toEqual(req.payload);
      }
    });

    it('hands a message id given twice to the sink twice, with the same id (dedupe is the core`s job)', async () => {
      const calls: ConformanceCallContext[] = [];
      await harness.hostService('supplier', {
        placeOrder: (_payload, context) => {
          calls.push(context);
          return undefined;
        },
      });
      const req = request('supplier', 'placeOrder', {});
      await send(req);

      await calls[0]!.respondLater('orderConfirmed', { n: 1 }, { messageId: 'msg-42' });
      await calls[0]!.respondLater('orderConfirmed', { n: 1 }, { messageId: 'msg-42' });

      const [first, second] = await sink.waitFor(2);
      expect(first).toMatchObject({ messageId: 'msg-42', correlationKey: req.correlationKey });
      expect(second).toMatchObject({ messageId: 'msg-42', correlationKey: req.correlationKey });
    });

    it('fails technically when the service cannot be reached', async () => {
      const req = request('ghost', 'anything', {});

      const error = await harness.transport
        .send(req, harness.unreachableCoordinates('ghost'))
        .catch((e: unknown) => e);

      expectPsiError(error, PsiErrorCode.TransportTechnical);
    });

    it('fails technically when the service reports a technical failure', async () => {
      await harness.hostService('erp', {
        insertOrder: () => {
          throw new ConformanceFailure('technical', { reason: 'database down' });
        },
      });

      const error = await send(request('erp', 'insertOrder', {})).catch((e: unknown) => e);

      expectPsiError(error, PsiErrorCode.TransportTechnical);
    });

    it('fails technically when the service crashes unexpectedly', async () => {
      await harness.hostService('erp', {
        insertOrder: () => {
          throw new TypeError('cannot read properties of undefined');
        },
      });

      const error = await send(request('erp', 'insertOrder', {})).catch((e: unknown) => e);

      expectPsiError(error, PsiErrorCode.TransportTechnical);
    });

    it('fails with a business error, carrying the body, when the service says no', async () => {
      await harness.hostService('erp', {
        insertOrder: () => {
          throw new ConformanceFailure('business', {
            reason: 'credit limit exceeded',
            limit: 1000,
          });
        },
      });

      const error = await send(request('erp', 'insertOrder', {})).catch((e: unknown) => e);

      expectPsiError(error, PsiErrorCode.TransportBusiness);
      expect((error as TransportBusinessError).body).toEqual({
        reason: 'credit limit exceeded',
        limit: 1000,
      });
    });

    it('settles a send in flight during stop, and loses no answer the sink accepted', async () => {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let entered!: (context: ConformanceCallContext) => void;
      const enteredCall = new Promise<ConformanceCallContext>((resolve) => (entered = resolve));
      await harness.hostService('printer', {
        print: async (_payload, context) => {
          entered(context);
          await released;
          return { printed: true };
        },
      });
      const req = request('printer', 'print', { pages: 3 });

      const inFlight = send(req).then(
        (result) => ({ settled: 'fulfilled' as const, result }),
        (error: unknown) => ({ settled: 'rejected' as const, error }),
      );
      const context = await enteredCall;
      await context.respondLater('progress', { page: 1 }, { messageId: 'progress-1' });
      const stopping = harness.transport.stop();
      const lateAnswer = context
        .respondLater('progress', { page: 2 }, { messageId: 'progress-2' })
        .then(
          () => 'accepted' as const,
          () => 'refused' as const,
        );
      release();

      const outcome = await inFlight;
      await stopping;
      if (outcome.settled === 'fulfilled') {
        expect(outcome.result).toEqual({ kind: 'reply', payload: { printed: true } });
      } else {
        expectPsiError(outcome.error, PsiErrorCode.TransportTechnical);
      }
      const accepted = ['progress-1', ...((await lateAnswer) === 'accepted' ? ['progress-2'] : [])];
      expect(sink.messages.map((m) => m.messageId)).toEqual(accepted);
    });

    it('can be stopped twice', async () => {
      await harness.transport.stop();
      await expect(harness.transport.stop()).resolves.toBeUndefined();
    });
  });
}

function expectPsiError(error: unknown, code: string): void {
  expect(PsiError.is(error) ? error.code : error).toBe(code);
}
