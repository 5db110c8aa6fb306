import { Input, OnResponse, Output, PsiErrorCode, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsString } from 'class-validator';
import {
  describeEachStore,
  kinds,
  openHarness,
  RecordingService,
  TestClock,
  useTempDir,
  waitUntil,
  type Harness,
} from './fixtures';

// Semantic 7: timeouts. A deadline signals the timeout transition, or raises PSI_TIMEOUT for
// the process to catch; the claim is atomic (an answer after the timeout won is `late`, an
// answer that won first cancels the timeout); timers survive restarts.

abstract class Fax {
  abstract send(request: { to: string }): Promise<void>;
}

class Receipt {
  @IsString() pages!: string;
}

@ServiceAdapter({ step: 'fax', service: 'fax' })
class FaxAdapter {
  @Input() @IsString() to!: string;
  @Output() pages?: string;
  @UseService(Fax) fax!: Fax;
  async callService(): Promise<void> {
    await this.fax.send({ to: this.to });
  }
  @OnResponse('fax-sent', {
    waitState: 'await-sent',
    payload: Receipt,
    timeoutMs: 60,
    timeoutTransition: 'timeout',
  })
  sent(receipt: Receipt): string {
    this.pages = receipt.pages;
    return 'sent';
  }
}

@ServiceAdapter({ step: 'strict-fax', service: 'fax' })
class StrictFaxAdapter {
  @Input() @IsString() to!: string;
  @UseService(Fax) fax!: Fax;
  async callService(): Promise<void> {
    await this.fax.send({ to: this.to });
  }
  // No timeoutTransition: the timeout is an SLA fault the process catches.
  @OnResponse('strict-sent', { waitState: 'await-strict', timeoutMs: 60 })
  sent(): string {
    return 'sent';
  }
}

@ServiceAdapter({ step: 'slow-fax', service: 'fax' })
class SlowFaxAdapter {
  @Input() @IsString() to!: string;
  @UseService(Fax) fax!: Fax;
  async callService(): Promise<void> {
    await this.fax.send({ to: this.to });
  }
  @OnResponse('slow-sent', {
    waitState: 'await-slow',
    timeoutMs: 60_000,
    timeoutTransition: 'timeout',
  })
  sent(): string {
    return 'sent';
  }
}

/** Sends again after each timeout: one step, one wait state, visited once per attempt. */
@ServiceAdapter({ step: 'retry-fax', service: 'fax' })
class RetryFaxAdapter {
  @Input() @IsString() to!: string;
  @UseService(Fax) fax!: Fax;
  async callService(): Promise<void> {
    await this.fax.send({ to: this.to });
  }
  @OnResponse('retry-sent', {
    waitState: 'await-retry',
    timeoutMs: 60_000,
    timeoutTransition: 'timeout',
  })
  sent(): string {
    return 'sent';
  }
}

/** First of two steps that wait at one wait state: its timeout leads to the fallback step. */
@ServiceAdapter({ step: 'fax-first', service: 'fax' })
class FirstFaxAdapter {
  @Input() @IsString() to!: string;
  @UseService(Fax) fax!: Fax;
  async callService(): Promise<void> {
    await this.fax.send({ to: this.to });
  }
  @OnResponse('first-sent', {
    waitState: 'await-shared',
    timeoutMs: 60_000,
    timeoutTransition: 'timeout',
  })
  sent(): string {
    return 'sent';
  }
}

/** The fallback: a different step, waiting at the same wait state as the first. */
@ServiceAdapter({ step: 'fax-fallback', service: 'fax' })
class FallbackFaxAdapter {
  @Input() @IsString() to!: string;
  @UseService(Fax) fax!: Fax;
  async callService(): Promise<void> {
    await this.fax.send({ to: this.to });
  }
  @OnResponse('fallback-sent', {
    waitState: 'await-shared',
    timeoutMs: 60_000,
    timeoutTransition: 'timeout',
  })
  sent(): string {
    return 'sent';
  }
}

const faxProcess = defineProcess({
  id: 'fax',
  start: 'fax',
  steps: {
    fax: { kind: 'service', next: 'await-sent' },
    'await-sent': { kind: 'wait', transitions: { sent: 'done', timeout: 'timed-out' } },
    done: { kind: 'end' },
    'timed-out': { kind: 'end' },
  },
});
const strictProcess = defineProcess({
  id: 'strict',
  start: 'strict-fax',
  faults: { [PsiErrorCode.Timeout]: 'escalate' },
  steps: {
    'strict-fax': { kind: 'service', next: 'await-strict' },
    'await-strict': { kind: 'wait', transitions: { sent: 'done' } },
    escalate: { kind: 'end' },
    done: { kind: 'end' },
  },
});
const slowProcess = defineProcess({
  id: 'slow',
  start: 'slow-fax',
  steps: {
    'slow-fax': { kind: 'service', next: 'await-slow' },
    'await-slow': { kind: 'wait', transitions: { sent: 'done', timeout: 'timed-out' } },
    done: { kind: 'end' },
    'timed-out': { kind: 'end' },
  },
});

const fallbackProcess = defineProcess({
  id: 'fallback',
  start: 'fax-first',
  steps: {
    'fax-first': { kind: 'service', next: 'await-shared' },
    'await-shared': { kind: 'wait', transitions: { sent: 'done', timeout: 'fax-fallback' } },
    'fax-fallback': { kind: 'service', next: 'await-shared' },
    done: { kind: 'end' },
  },
});

const retryProcess = defineProcess({
  id: 'retry',
  start: 'retry-fax',
  steps: {
    'retry-fax': { kind: 'service', next: 'await-retry' },
    'await-retry': { kind: 'wait', transitions: { sent: 'done', timeout: 'retry-fax' } },
    done: { kind: 'end' },
  },
});

describeEachStore('timeouts', () => {
  const temp = useTempDir();
  let h: Harness;
  let fax: RecordingService;
  const harnesses: Harness[] = [];

  async function open(file: string, clock?: TestClock, restore = false): Promise<Harness> {
    fax = new RecordingService({ send: undefined });
    h = await openHarness({
      file,
      definitions: [faxProcess, strictProcess, slowProcess, retryProcess, fallbackProcess],
      adapters: [
        FaxAdapter,
        StrictFaxAdapter,
        SlowFaxAdapter,
        RetryFaxAdapter,
        FirstFaxAdapter,
        FallbackFaxAdapter,
      ],
      services: { fax: fax.service },
      registry: { fax: { transport: 'in-process', address: 'fax' } },
      clock: clock?.now,
      restore,
    });
    harnesses.push(h);
    return h;
  }
  afterEach(async () => {
    for (const each of harnesses.splice(0)) await each.close();
  });

  it('signals the timeout transition at the deadline; a later answer is dead-lettered `late`', async () => {
    await open(temp.file());
    const id = await h.engine.start('fax', { to: '+41 44 000 00 00' });

    const final = await h.engine.whenEnded(id);
    expect(final.history).toEqual(['fax', 'await-sent', 'timed-out']);
    expect(final.variables.pages).toBeUndefined();
    await h.coordinator.idle();
    const [expectation] = await h.query<{ status: string; timeoutPending: number }>(
      'SELECT status, "timeoutPending" FROM psi_expectation',
    );
    expect(expectation).toEqual({ status: 'timed-out', timeoutPending: 0 });
    expect((await h.coordinator.invocations({ instanceId: id }))[0].status).toBe('completed');
    // One entry for the one timeout (claimed and signalled together), written once signalled.
    const timedOut = (await h.coordinator.auditTrail(id)).filter((e) => e.kind === 'timed-out');
    expect(timedOut.map((e) => e.detail)).toEqual([
      {
        event: 'fax-sent',
        waitState: 'await-sent',
        deadline: expect.any(Number),
        signalled: 'timeout',
      },
    ]);
    expect(h.coordinator.stats().timedOut).toBe(1);

    expect(await fax.last().respond('fax-sent', { pages: '3' })).toMatchObject({
      status: 'dead-lettered',
      reason: 'late',
    });
    const [late] = await h.coordinator.deadLetters.list({ reason: 'late' });
    expect(late).toMatchObject({
      instanceId: id,
      payload: { pages: '3' },
      detail: { expectationStatus: 'timed-out' },
    });
  });

  it('raises PSI_TIMEOUT when no timeout transition is given; the process catches it', async () => {
    await open(temp.file());
    const id = await h.engine.start('strict', { to: '+1 555 0100' });

    const final = await h.engine.whenEnded(id);
    expect(final.status).toBe('completed');
    expect(final.history).toEqual(['strict-fax', 'await-strict', 'escalate']);
    await h.coordinator.idle();
    const trail = await h.coordinator.auditTrail(id);
    expect(trail.filter((e) => e.kind === 'timed-out').at(-1)?.detail?.signalled).toBe(
      PsiErrorCode.Timeout,
    );
  });

  it('an answer that wins the claim first cancels the timeout for good', async () => {
    const clock = new TestClock();
    const file = temp.file();
    const first = await open(file, clock);
    const id = await first.engine.start('slow', { to: 'x' });
    await first.atStep(id, 'await-slow');

    expect(await fax.last().respond('slow-sent', {})).toMatchObject({ status: 'delivered' });
    const final = await first.engine.whenEnded(id);
    expect(final.history).toEqual(['slow-fax', 'await-slow', 'done']);

    // Past the deadline, a fresh coordinator fires everything due at start: nothing is open.
    await first.close();
    harnesses.splice(harnesses.indexOf(first), 1);
    clock.advance(120_000);
    const second = await open(file, clock, true);
    await second.coordinator.idle();
    expect(second.coordinator.stats().timedOut).toBe(0);
    const [row] = await second.query<{ status: string }>('SELECT status FROM psi_expectation');
    expect(row.status).toBe('delivered');
    expect(kinds(await second.coordinator.auditTrail(id))).not.toContain('timed-out');
    expect((await second.engine.getInstance(id)).history).toEqual([
      'slow-fax',
      'await-slow',
      'done',
    ]);
  });

  it('a deadline that passed while nothing ran fires when a new coordinator starts on the same file', async () => {
    const clock = new TestClock();
    const file = temp.file();
    const first = await open(file, clock);
    const id = await first.engine.start('slow', { to: '+33 1 00 00 00 00' });
    await first.atStep(id, 'await-slow');
    const [before] = await first.query<{ deadline: number; status: string }>(
      'SELECT deadline, status FROM psi_expectation',
    );
    expect(before.status).toBe('open');
    // The test clock stands still, so the deadline is exactly invoke time + 60 s.
    expect(Number(before.deadline)).toBe(clock.current + 60_000);
    await first.close();
    harnesses.splice(harnesses.indexOf(first), 1);

    // Nothing runs while the deadline passes.
    clock.advance(120_000);

    const second = await open(file, clock, true);
    const final = await second.engine.whenEnded(id);
    expect(final.status).toBe('completed');
    expect(final.history).toEqual(['slow-fax', 'await-slow', 'timed-out']);
    await second.coordinator.idle();
    const [after] = await second.query<{ status: string; timeoutPending: number }>(
      'SELECT status, "timeoutPending" FROM psi_expectation',
    );
    expect(after).toEqual({ status: 'timed-out', timeoutPending: 0 });
    expect(kinds(await second.coordinator.auditTrail(id))).toEqual([
      'invoked',
      'sent',
      'completed',
      'timed-out',
    ]);
    expect(second.coordinator.stats().timedOut).toBe(1);
    // The restarted coordinator did not send the fax again.
    expect(fax.calls).toHaveLength(0);
  });

  /**
   * Starts `processId`, lets its first deadline pass while nothing runs (the next coordinator
   * times it out and the instance comes back to `waitState`, its history then `revisited`),
   * then leaves what a crash between the timeout's signal and its bookkeeping leaves: the engine
   * took the signal, the store still says the timeout waits to be signalled. Returns the
   * coordinator restarted on that state, idle.
   */
  async function crashAfterTimeoutSignal(
    processId: string,
    waitState: string,
    revisited: string[],
  ): Promise<{ third: Harness; id: string }> {
    const clock = new TestClock();
    const file = temp.file();
    const first = await open(file, clock);
    const id = await first.engine.start(processId, { to: 'x' });
    await first.atStep(id, waitState);
    await first.close();
    harnesses.splice(harnesses.indexOf(first), 1);

    clock.advance(120_000);
    const second = await open(file, clock, true);
    await waitUntil(async () => {
      const snapshot = await second.engine.getInstance(id);
      return snapshot.history.length === revisited.length ? snapshot : undefined;
    }, `the second visit of ${waitState}`);
    await second.coordinator.idle();
    // (1 = 1): true on both databases, whatever the driver binds.
    await second.query('UPDATE psi_expectation SET "timeoutPending" = (1 = 1) WHERE status = ?', [
      'timed-out',
    ]);
    await second.close();
    harnesses.splice(harnesses.indexOf(second), 1);

    const third = await open(file, clock, true);
    await third.coordinator.idle();
    const snapshot = await third.engine.getInstance(id);
    expect(snapshot.history).toEqual(revisited);
    expect(snapshot.waitStates).toEqual([waitState]);
    return { third, id };
  }

  it('a timeout signalled just before a crash does not fire again when its step comes round again', async () => {
    const { third, id } = await crashAfterTimeoutSignal('retry', 'await-retry', [
      'retry-fax',
      'await-retry',
      'retry-fax',
      'await-retry',
    ]);

    const expectations = await third.query<{ status: string; timeoutPending: unknown }>(
      'SELECT status, "timeoutPending" FROM psi_expectation ORDER BY "createdAt", id',
    );
    expect(expectations.map((e) => [e.status, Boolean(e.timeoutPending)])).toEqual([
      ['timed-out', false],
      ['open', false],
    ]);
    expect(await third.coordinator.invocations({ instanceId: id })).toHaveLength(2);
    const timeouts = (await third.coordinator.auditTrail(id)).filter((e) => e.kind === 'timed-out');
    // The test left the store as that crash would after the first (recorded) signal: the
    // signalled entry is the first coordinator's, the unsignalled one the settlement's.
    expect(timeouts.map((e) => e.detail?.signalled)).toEqual(['timeout', false]);
    expect(third.problems).toEqual([]);
  });

  it('a timeout signalled just before a crash does not fire again when a different step leads to the same wait state', async () => {
    // No later invocation of the same step exists here: only the engine can tell it took the
    // timeout's signal.
    const { third, id } = await crashAfterTimeoutSignal('fallback', 'await-shared', [
      'fax-first',
      'await-shared',
      'fax-fallback',
      'await-shared',
    ]);

    const expectations = await third.query<{
      event: string;
      status: string;
      timeoutPending: unknown;
    }>('SELECT event, status, "timeoutPending" FROM psi_expectation ORDER BY "createdAt", id');
    expect(expectations.map((e) => [e.event, e.status, Boolean(e.timeoutPending)])).toEqual([
      ['first-sent', 'timed-out', false],
      ['fallback-sent', 'open', false],
    ]);
    const timeouts = (await third.coordinator.auditTrail(id)).filter((e) => e.kind === 'timed-out');
    expect(timeouts.map((e) => e.detail?.signalled)).toEqual(['timeout', false]);
    expect(timeouts[1]?.detail?.reason).toBe('the engine took this signal before a restart');
    expect(third.problems).toEqual([]);
  });
});
