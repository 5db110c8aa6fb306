import {
  BusinessError,
  Input,
  Output,
  PsiErrorCode,
  ServiceAdapter,
  TransportBusinessError,
  TransportTechnicalError,
  UseService,
} from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsInt, IsString } from 'class-validator';
import {
  describeEachStore,
  kinds,
  openHarness,
  RecordingService,
  useTempDir,
  waitUntil,
  type Harness,
} from './fixtures';

// Semantic 9: technical errors are retried with backoff per the registry's policy; past the
// limit the invocation is frozen with its last error, and thaw re-runs it; business errors go
// back to the process (transition or fault); retries and frozen invocations survive a restart.

abstract class Booking {
  abstract book(request: { customer: string; amount: number }): Promise<{ ref: string }>;
}

@ServiceAdapter({ step: 'book', service: 'booking' })
class BookAdapter {
  @Input() @IsString() customer!: string;
  @Input() @IsInt() amount!: number;
  @Output() bookingRef?: string;
  @UseService(Booking) booking!: Booking;

  async callService(): Promise<string | void> {
    if (this.amount > 1_000)
      throw new BusinessError(
        'CREDIT_LIMIT',
        `${this.amount} exceeds the credit limit`,
        'rejected',
      );
    const { ref } = await this.booking.book({ customer: this.customer, amount: this.amount });
    this.bookingRef = ref;
  }
}

const bookProcess = defineProcess({
  id: 'book',
  start: 'book',
  steps: {
    book: {
      kind: 'service',
      next: 'booked',
      transitions: { rejected: 'rejected' },
      faults: { [PsiErrorCode.TransportBusiness]: 'manual-review' },
    },
    booked: { kind: 'end' },
    rejected: { kind: 'end' },
    'manual-review': { kind: 'end' },
  },
});

/**
 * The booking service: fails technically while `failures` > 0, or with what `next` throws;
 * notes the time of each call in `calledAt` when given.
 */
function bookingService(state: BookingState): RecordingService {
  return new RecordingService({
    book: (payload) => {
      state.calledAt?.push(Date.now());
      if (state.business)
        throw new TransportBusinessError('unknown customer', 404, {
          customer: (payload as { customer: string }).customer,
        });
      if (state.failures > 0) {
        state.failures--;
        throw new TransportTechnicalError('503 Service Unavailable');
      }
      return { ref: `BK-${(payload as { customer: string }).customer}` };
    },
  });
}

interface BookingState {
  failures: number;
  business?: boolean;
  calledAt?: number[];
}

describeEachStore('retry, freeze, thaw', () => {
  const temp = useTempDir();
  const harnesses: Harness[] = [];
  let service: RecordingService;
  let state: BookingState;

  async function open(
    file: string,
    retry: Record<string, number>,
    restore = false,
  ): Promise<Harness> {
    service = bookingService(state);
    const h = await openHarness({
      file,
      definitions: [bookProcess],
      adapters: [BookAdapter],
      services: { booking: service.service },
      registry: { booking: { transport: 'in-process', address: 'booking', retry } },
      restore,
    });
    harnesses.push(h);
    return h;
  }
  async function closeHarness(h: Harness): Promise<void> {
    harnesses.splice(harnesses.indexOf(h), 1);
    await h.close();
  }
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.close();
  });
  const fast = { maxAttempts: 3, initialDelayMs: 2, multiplier: 2, maxDelayMs: 10 };

  it('retries technical failures with backoff and moves on once the service answers', async () => {
    state = { failures: 2 };
    const h = await open(temp.file(), fast);
    const id = await h.engine.start('book', { customer: 'ACME', amount: 10 });

    const final = await h.engine.whenEnded(id);
    expect(final).toMatchObject({ status: 'completed', variables: { bookingRef: 'BK-ACME' } });
    expect(final.history).toEqual(['book', 'booked']);
    expect(service.calls).toHaveLength(3);
    expect(new Set(service.calls.map((c) => c.context.requestId)).size).toBe(1);

    const trail = await h.coordinator.auditTrail(id);
    expect(kinds(trail)).toEqual(['invoked', 'retried', 'retried', 'sent', 'completed']);
    const retried = trail.filter((e) => e.kind === 'retried');
    expect(retried.map((e) => e.detail?.attempt)).toEqual([1, 2]);
    for (const e of retried) {
      expect(e.detail?.delayMs).toEqual(expect.any(Number));
      expect(e.detail?.delayMs as number).toBeLessThanOrEqual(fast.maxDelayMs);
      expect(JSON.stringify(e.detail?.error)).toContain('503');
    }
    const [outbox] = await h.query<{ status: string; attempts: number }>(
      'SELECT status, attempts FROM psi_outbox',
    );
    expect(outbox).toEqual({ status: 'sent', attempts: 3 });
    expect(h.coordinator.stats()).toMatchObject({ retried: 2, frozen: 0 });
  });

  it('freezes the invocation with its last error past maxAttempts; thaw re-runs it and the instance moves on', async () => {
    state = { failures: 100 };
    const h = await open(temp.file(), fast);
    const id = await h.engine.start('book', { customer: 'Globex', amount: 20 });

    const [frozen] = await waitUntil(async () => {
      const found = await h.coordinator.invocations({ instanceId: id, status: 'frozen' });
      return found.length > 0 ? found : undefined;
    }, 'the invocation is frozen');
    expect(frozen.lastError).toMatchObject({
      code: PsiErrorCode.TransportTechnical,
      message: expect.stringContaining('503'),
    });
    expect(service.calls).toHaveLength(3);
    expect((await h.engine.getInstance(id)).currentStep).toBe('book');
    const [outbox] = await h.query<{ status: string; attempts: number; lastError: string }>(
      'SELECT status, attempts, "lastError" FROM psi_outbox',
    );
    expect(outbox).toMatchObject({ status: 'failed', attempts: 3 });
    expect(outbox.lastError).toContain('503');

    state.failures = 0;
    const result = await h.coordinator.thaw(frozen.id);
    expect(result).toMatchObject({ invocationId: frozen.id, status: 'completed' });
    const final = await h.engine.whenEnded(id);
    expect(final).toMatchObject({ status: 'completed', variables: { bookingRef: 'BK-Globex' } });
    expect((await h.coordinator.invocation(frozen.id)).status).toBe('completed');
    expect(kinds(await h.coordinator.auditTrail(id))).toEqual([
      'invoked',
      'retried',
      'retried',
      'frozen',
      'thawed',
      'sent',
      'completed',
    ]);
    // Same request id on every attempt, before and after the thaw.
    expect(new Set(service.calls.map((c) => c.context.requestId)).size).toBe(1);
    await expect(h.coordinator.thaw(frozen.id)).rejects.toMatchObject({
      code: PsiErrorCode.InvocationNotFrozen,
    });
  });

  it('sends business errors back to the process: an adapter BusinessError as transition, a TransportBusinessError as fault', async () => {
    state = { failures: 0 };
    const h = await open(temp.file(), fast);
    const rejected = await h.engine.start('book', { customer: 'Big Spender', amount: 5_000 });
    expect(await h.engine.whenEnded(rejected)).toMatchObject({
      status: 'completed',
      history: ['book', 'rejected'],
    });
    expect(service.calls).toHaveLength(0);

    state.business = true;
    const unknown = await h.engine.start('book', { customer: 'Nobody', amount: 5 });
    expect(await h.engine.whenEnded(unknown)).toMatchObject({
      status: 'completed',
      history: ['book', 'manual-review'],
    });
    expect(service.calls).toHaveLength(1); // not retried

    // The outcome's record commits with the engine's final state, after whenEnded resolves.
    await h.coordinator.idle();
    const invocations = await h.coordinator.invocations();
    expect(
      invocations.map((i) => [i.instanceId, i.status, (i.lastError as { code: string }).code]),
    ).toEqual([
      [rejected, 'completed', 'CREDIT_LIMIT'],
      [unknown, 'completed', PsiErrorCode.TransportBusiness],
    ]);
    expect(kinds(await h.coordinator.auditTrail(unknown))).toEqual(['invoked', 'completed']);
    expect(h.coordinator.stats()).toMatchObject({ retried: 0, frozen: 0 });
  });

  it('keeps frozen invocations across a restart; a new coordinator on the same file thaws them', async () => {
    state = { failures: 100 };
    const file = temp.file();
    const first = await open(file, fast);
    const id = await first.engine.start('book', { customer: 'Initech', amount: 30 });
    const [frozen] = await waitUntil(async () => {
      const found = await first.coordinator.invocations({ status: 'frozen' });
      return found.length > 0 ? found : undefined;
    }, 'the invocation is frozen');
    await closeHarness(first);

    state.failures = 0;
    const second = await open(file, fast, true);
    expect(await second.coordinator.invocation(frozen.id)).toMatchObject({
      status: 'frozen',
      lastError: { code: PsiErrorCode.TransportTechnical },
    });
    expect((await second.engine.getInstance(id)).currentStep).toBe('book');
    await second.coordinator.idle();
    expect(service.calls).toHaveLength(0); // a frozen invocation waits for an operator

    await second.coordinator.thaw(frozen.id);
    expect(await second.engine.whenEnded(id)).toMatchObject({
      status: 'completed',
      variables: { bookingRef: 'BK-Initech' },
    });
    expect(service.calls).toHaveLength(1);
  });

  it('keeps a retry that is waiting for its backoff across a restart: the new coordinator continues it at the stored time', async () => {
    state = { failures: 1, calledAt: [] };
    const file = temp.file();
    // A backoff long enough to close the first coordinator while the retry waits.
    const backoffMs = 1_500;
    const first = await open(file, {
      maxAttempts: 5,
      initialDelayMs: backoffMs,
      multiplier: 1,
      maxDelayMs: backoffMs,
    });
    const id = await first.engine.start('book', { customer: 'Umbrella', amount: 40 });
    await waitUntil(
      () => first.traces.some((e) => e.kind === 'retried'),
      'the first attempt failed and a retry is scheduled',
    );
    const [scheduled] = await first.query<{ nextAttemptAt: number | string }>(
      'SELECT "nextAttemptAt" FROM psi_outbox',
    );
    await closeHarness(first);
    expect(service.calls).toHaveLength(1);

    // Not frozen by the shutdown: still running, so the next coordinator recovers it, and sends
    // no earlier than the backoff the first one stored (a restart is no way around a backoff).
    const second = await open(file, fast, true);
    const final = await second.engine.whenEnded(id);
    expect(final).toMatchObject({ status: 'completed', variables: { bookingRef: 'BK-Umbrella' } });
    expect(service.calls).toHaveLength(1); // the new service instance: one more attempt, which succeeds
    // The second attempt's call, on the clock the coordinator waits on (Date.now here).
    expect(state.calledAt).toHaveLength(2);
    expect(state.calledAt![1]).toBeGreaterThanOrEqual(Number(scheduled.nextAttemptAt));
    await second.coordinator.idle();
    const [invocation] = await second.coordinator.invocations({ instanceId: id });
    expect(invocation.status).toBe('completed');
    const trail = kinds(await second.coordinator.auditTrail(id));
    expect(trail).toEqual(['invoked', 'retried', 'sent', 'completed']);
    const [outbox] = await second.query<{ status: string; attempts: number }>(
      'SELECT status, attempts FROM psi_outbox',
    );
    expect(outbox).toEqual({ status: 'sent', attempts: 2 });
  });
});
