/// <reference types="jest" />
// Over 400 lines: one conformance suite, every case a transport plugin must pass, read as one
// contract; the harness types and the cases stay together so a plugin author reads one file.
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
   * transport took the answer over: the sink accepted it (HTTP, in-process), or the broker
   * stored it (Kafka: the sink gets it when the reply consumer reads it). Rejects when refused.
   */
  respondLater(event: string, payload: unknown, options?: { messageId?: string }): Promise<void>;
}

/**
 * One operation of a test service: return a value for a synchronous reply, `undefined` for
 * "accepted, the answer comes later", or throw a {@link ConformanceFailure} (or anything else,
 * which counts as a technical failure). The suite returns values only from services of
 * transports with `capabilities.syncReply`.
 */
export type ConformanceOperation = (payload: unknown, context: ConformanceCallContext) => unknown;

/** A test service: operation name → implementation. */
export type ConformanceService = Record<string, ConformanceOperation>;

/**
 * The event a harness answers with when a service of a transport whose failures are not part of
 * the exchange (`serviceFailures: 'redelivery'`) refuses a request: a refusal then travels like
 * any answer, carrying the {@link ConformanceFailure}'s body and the call's correlation key.
 */
export const CONFORMANCE_REFUSAL_EVENT = 'refused';

/**
 * Thrown by a test operation to fail in a transport-neutral way; the harness turns it into what
 * the transport uses (HTTP 4xx / 5xx, a thrown TransportBusinessError, a Kafka request left
 * unacknowledged or a {@link CONFORMANCE_REFUSAL_EVENT} answer...).
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

/**
 * What a transport can express. The suite skips or adapts exactly the cases that depend on it;
 * everything else (answers later, correlation key and message id propagation, unreachable
 * services, stop losing nothing) runs for every transport.
 */
export interface TransportCapabilities {
  /**
   * A service can answer within the exchange: `send` resolves `{ kind: 'reply' }` (an HTTP 2xx
   * body, an in-process return value). False for Kafka, whose `send` resolves `accepted` once
   * the request is stored on its topic, before the service ran; every answer comes later.
   */
  syncReply: boolean;
  /**
   * How a service's failure reaches PSI.
   * - `send`: within the exchange: `send` rejects with TransportTechnicalError when the service
   *   fails or crashes, with TransportBusinessError (carrying the body) when it refuses.
   * - `redelivery`: after `send` resolved: a failure or crash leaves the request unacknowledged,
   *   so the transport hands it to the service again (same request id and correlation key) until
   *   it is handled; a refusal is an answer ({@link CONFORMANCE_REFUSAL_EVENT}) like any other.
   */
  serviceFailures: 'send' | 'redelivery';
}

/** What a transport plugin provides so the suite can exercise it. */
export interface TransportConformanceHarness {
  /** The transport under test, not yet started: the suite starts it with a recording sink. */
  readonly transport: Transport;
  /**
   * How long the suite waits for a call to reach a service or an answer to reach the sink.
   * @default 20000
   */
  readonly waitTimeoutMs?: number;
  /** Hosts `operations` as service `service`, reachable through the transport. */
  hostService(service: string, operations: ConformanceService): Promise<void>;
  /** Coordinates of a hosted service, as a registry would return them. */
  coordinates(service: string): ServiceCoordinates;
  /** Coordinates where nothing answers: sending there must be a technical failure. */
  unreachableCoordinates(service: string): ServiceCoordinates;
  /**
   * For transports whose reachability is not part of the coordinates (Kafka: the brokers), a
   * second transport of the same kind that reaches nothing; the suite sends the unreachable
   * case through it (without starting it) and stops it afterwards. @default `transport`
   */
  unreachableTransport?(): Transport;
  /** Releases everything the harness created; called after `transport.stop()`. */
  teardown(): Promise<void>;
}

/** Builds a fresh harness per test. */
export type TransportConformanceFactory = () => Promise<TransportConformanceHarness>;

/**
 * The behaviour every transport must show, as a jest `describe` block: synchronous replies
 * (where the transport has them), asynchronous answers carrying the correlation key, stable
 * message ids, technical vs business failures, and a `stop` that loses nothing. Call it from a
 * test file of the plugin. `capabilities` decide which variant of a case runs; cases a
 * transport cannot express are reported as skipped, not passed. (They are an argument rather
 * than a harness property because jest selects the tests before any harness is built.)
 */
export function describeTransportConformance(
  name: string,
  capabilities: TransportCapabilities,
  factory: TransportConformanceFactory,
): void {
  describe(`${name} transport conformance`, () => {
    let harness: TransportConformanceHarness;
    let sink: RecordingSink;
    let sequence = 0;
    const withSyncReply = capabilities.syncReply ? it : it.skip;
    const withoutSyncReply = capabilities.syncReply ? it.skip : it;
    const failuresInSend = capabilities.serviceFailures === 'send' ? it : it.skip;
    const failuresRedelivered = capabilities.serviceFailures === 'redelivery' ? it : it.skip;

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
    const arrivals = <T>(): Arrivals<T> => new Arrivals<T>(harness.waitTimeoutMs ?? 20_000);

    beforeEach(async () => {
      harness = await factory();
      sink = new RecordingSink({ waitTimeoutMs: harness.waitTimeoutMs ?? 20_000 });
      await harness.transport.start(sink);
    });

    afterEach(async () => {
      await harness.transport.stop();
      await harness.teardown();
    });

    withSyncReply('returns a synchronous reply with the payload the service returned', async () => {
      await harness.hostService('erp', {
        insertOrder: (payload) => ({ accepted: true, echo: payload }),
      });
      const payload = { orderNo: 'PO-1', lines: [{ sku: 'A', qty: 2 }], note: 'ü ✓' };

      await expect(send(request('erp', 'insertOrder', payload))).resolves.toEqual({
        kind: 'reply',
        payload: { accepted: true, echo: payload },
      });
    });

    withoutSyncReply(
      'resolves "accepted" once the request is sent, before the service handled it',
      async () => {
        const release = deferred<void>();
        const calls = arrivals<ConformanceCallContext>();
        await harness.hostService('erp', {
          insertOrder: async (_payload, context) => {
            calls.push(context);
            await release.promise;
            return undefined;
          },
        });
        const req = request('erp', 'insertOrder', { orderNo: 'PO-1' });

        await expect(send(req)).resolves.toEqual({ kind: 'accepted' });
        const [call] = await calls.waitFor(1);
        release.resolve();
        expect(call).toMatchObject({ requestId: req.requestId, operation: 'insertOrder' });
      },
    );

    it('propagates correlation key, request id, operation and payload to the service', async () => {
      const seen = arrivals<{ payload: unknown; context: ConformanceCallContext }>();
      await harness.hostService('erp', {
        insertOrder: (payload, context) => {
          seen.push({ payload, context });
          return capabilities.syncReply ? { ok: true } : undefined;
        },
      });
      const req = request('erp', 'insertOrder', { orderNo: 'PO-2', note: 'ü ✓' });

      await send(req);

      const [call] = await seen.waitFor(1);
      expect(call!.payload).toEqual({ orderNo: 'PO-2', note: 'ü ✓' });
      expect(call!.context).toMatchObject({
        correlationKey: req.correlationKey,
        requestId: req.requestId,
        operation: 'insertOrder',
      });
    });

    it('is accepted when the service answers later, and the answer reaches the sink with the correlation key', async () => {
      const calls = arrivals<ConformanceCallContext>();
      await harness.hostService('supplier', {
        placeOrder: (_payload, context) => {
          calls.push(context);
          return undefined;
        },
      });
      const req = request('supplier', 'placeOrder', { orderNo: 'PO-3' });

      await expect(send(req)).resolves.toEqual({ kind: 'accepted' });
      const [call] = await calls.waitFor(1);
      expect(sink.messages).toHaveLength(0);
      await call!.respondLater('orderConfirmed', { orderNo: 'PO-3', eta: '2025-01-31' });

      const answer = await sink.nth(1);
      expect(answer).toMatchObject({
        event: 'orderConfirmed',
        correlationKey: req.correlationKey,
        payload: { orderNo: 'PO-3', eta: '2025-01-31' },
      });
    });

    it('keeps the answers of concurrent requests apart by correlation key', async () => {
      const calls = arrivals<{ payload: unknown; context: ConformanceCallContext }>();
      await harness.hostService('supplier', {
        placeOrder: (payload, context) => {
          calls.push({ payload, context });
          return undefined;
        },
      });
      const requests = [1, 2, 3].map((n) => request('supplier', 'placeOrder', { n }));

      await Promise.all(requests.map(send));
      for (const call of [...(await calls.waitFor(3))].reverse()) {
        await call.context.respondLater('orderConfirmed', call.payload);
      }

      const answers = await sink.waitFor(3);
      for (const req of requests) {
        const answer = answers.find((m) => m.correlationKey === req.correlationKey);
        expect(answer?.payload).toEqual(req.payload);
      }
    });

    it('hands a message id given twice to the sink twice, with the same id (dedupe is the core`s job)', async () => {
      const calls = arrivals<ConformanceCallContext>();
      await harness.hostService('supplier', {
        placeOrder: (_payload, context) => {
          calls.push(context);
          return undefined;
        },
      });
      const req = request('supplier', 'placeOrder', {});
      await send(req);
      const [call] = await calls.waitFor(1);

      await call!.respondLater('orderConfirmed', { n: 1 }, { messageId: 'msg-42' });
      await call!.respondLater('orderConfirmed', { n: 1 }, { messageId: 'msg-42' });

      const [first, second] = await sink.waitFor(2);
      expect(first).toMatchObject({ messageId: 'msg-42', correlationKey: req.correlationKey });
      expect(second).toMatchObject({ messageId: 'msg-42', correlationKey: req.correlationKey });
    });

    it('fails technically when the service cannot be reached', async () => {
      const req = request('ghost', 'anything', {});
      const transport = harness.unreachableTransport?.() ?? harness.transport;

      try {
        const error = await transport
          .send(req, harness.unreachableCoordinates('ghost'))
          .catch((e: unknown) => e);

        expectPsiError(error, PsiErrorCode.TransportTechnical);
      } finally {
        if (transport !== harness.transport) await transport.stop();
      }
    });

    failuresInSend('fails technically when the service reports a technical failure', async () => {
      await harness.hostService('erp', {
        insertOrder: () => {
          throw new ConformanceFailure('technical', { reason: 'database down' });
        },
      });

      const error = await send(request('erp', 'insertOrder', {})).catch((e: unknown) => e);

      expectPsiError(error, PsiErrorCode.TransportTechnical);
    });

    failuresInSend('fails technically when the service crashes unexpectedly', async () => {
      await harness.hostService('erp', {
        insertOrder: () => {
          throw new TypeError('cannot read properties of undefined');
        },
      });

      const error = await send(request('erp', 'insertOrder', {})).catch((e: unknown) => e);

      expectPsiError(error, PsiErrorCode.TransportTechnical);
    });

    failuresInSend(
      'fails with a business error, carrying the body, when the service says no',
      async () => {
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
      },
    );

    for (const [failure, fail] of [
      [
        'reports a technical failure',
        () => {
          throw new ConformanceFailure('technical', { reason: 'database down' });
        },
      ],
      [
        'crashes unexpectedly',
        () => {
          throw new TypeError('cannot read properties of undefined');
        },
      ],
    ] as const) {
      failuresRedelivered(
        `hands the request to the service again, same ids, when it ${failure}`,
        async () => {
          const calls = arrivals<ConformanceCallContext>();
          await harness.hostService('erp', {
            insertOrder: (_payload, context) => {
              calls.push(context);
              if (calls.count === 1) fail();
              return undefined;
            },
          });
          const req = request('erp', 'insertOrder', { orderNo: 'PO-4' });

          await expect(send(req)).resolves.toEqual({ kind: 'accepted' });
          const [first, second] = await calls.waitFor(2);
          await second!.respondLater('orderBooked', { orderNo: 'PO-4' });

          for (const call of [first, second]) {
            expect(call).toMatchObject({
              requestId: req.requestId,
              correlationKey: req.correlationKey,
              operation: 'insertOrder',
            });
          }
          expect(await sink.nth(1)).toMatchObject({
            event: 'orderBooked',
            correlationKey: req.correlationKey,
          });
        },
      );
    }

    failuresRedelivered(
      'carries a refusal back as an answer with the body and the correlation key',
      async () => {
        let calls = 0;
        await harness.hostService('erp', {
          insertOrder: () => {
            calls += 1;
            throw new ConformanceFailure('business', {
              reason: 'credit limit exceeded',
              limit: 1000,
            });
          },
        });
        const req = request('erp', 'insertOrder', {});

        await expect(send(req)).resolves.toEqual({ kind: 'accepted' });

        expect(await sink.nth(1)).toMatchObject({
          event: CONFORMANCE_REFUSAL_EVENT,
          correlationKey: req.correlationKey,
          payload: { reason: 'credit limit exceeded', limit: 1000 },
        });
        expect(calls).toBe(1);
      },
    );

    it('settles a send in flight during stop, and loses no answer the transport took over', async () => {
      const release = deferred<void>();
      const entered = deferred<ConformanceCallContext>();
      await harness.hostService('printer', {
        print: async (_payload, context) => {
          entered.resolve(context);
          await release.promise;
          return capabilities.syncReply ? { printed: true } : undefined;
        },
      });
      const req = request('printer', 'print', { pages: 3 });

      const inFlight = send(req).then(
        (result) => ({ settled: 'fulfilled' as const, result }),
        (error: unknown) => ({ settled: 'rejected' as const, error }),
      );
      const context = await withDeadline(entered.promise, harness.waitTimeoutMs ?? 20_000);
      await context.respondLater('progress', { page: 1 }, { messageId: 'progress-1' });
      const stopping = harness.transport.stop();
      const lateAnswer = context
        .respondLater('progress', { page: 2 }, { messageId: 'progress-2' })
        .then(
          () => 'accepted' as const,
          () => 'refused' as const,
        );
      release.resolve();

      const outcome = await inFlight;
      await stopping;
      if (outcome.settled === 'fulfilled') {
        expect(outcome.result).toEqual(
          capabilities.syncReply
            ? { kind: 'reply', payload: { printed: true } }
            : { kind: 'accepted' },
        );
      } else {
        expectPsiError(outcome.error, PsiErrorCode.TransportTechnical);
      }
      // What the transport took over reached the sink before the stop, or reaches it once the
      // transport runs again (a broker keeps it); what it refused, the service still has.
      const accepted = ['progress-1', ...((await lateAnswer) === 'accepted' ? ['progress-2'] : [])];
      await harness.transport.start(sink);
      const arrived = (): string[] => [...new Set(sink.messages.map((m) => String(m.messageId)))];
      await waitUntil(
        () => arrived().length >= accepted.length,
        harness.waitTimeoutMs ?? 20_000,
        () => `answers ${accepted.join(', ')} reached the sink: ${JSON.stringify(sink.messages)}`,
      );
      expect(arrived()).toEqual(accepted);
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

/** Things that arrive over time (calls reaching a service), awaited without sleeping. */
class Arrivals<T> {
  private readonly items: T[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(private readonly timeoutMs: number) {}

  get count(): number {
    return this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
    for (const wake of [...this.waiters]) wake();
  }

  /** Resolves with the first `count` items once they arrived; rejects at the deadline. */
  async waitFor(count: number): Promise<T[]> {
    if (this.items.length < count) {
      let wake: (() => void) | undefined;
      const arrived = new Promise<void>((resolve) => {
        wake = () => {
          if (this.items.length >= count) resolve();
        };
        this.waiters.add(wake);
      });
      try {
        await withDeadline(arrived, this.timeoutMs, () => `${count} call(s), got ${this.count}`);
      } finally {
        if (wake) this.waiters.delete(wake);
      }
    }
    return this.items.slice(0, count);
  }
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function withDeadline<T>(
  promise: Promise<T>,
  timeoutMs: number,
  what: () => string = () => 'the awaited event',
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what()}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitUntil(
  condition: () => boolean,
  timeoutMs: number,
  what: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting until ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
