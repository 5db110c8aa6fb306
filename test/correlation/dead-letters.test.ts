import { Input, OnResponse, Output, PsiErrorCode, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsInt, IsString } from 'class-validator';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  useTempDir,
  waitUntil,
  type Harness,
} from './fixtures';

// Semantic 3: dead letters are durable, carry reason, payload and timestamps, and can be listed
// (filtered), replayed (correlated again) and discarded. Reasons covered here: invalid,
// handler-failed, late, superseded, expired.

abstract class Checker {
  abstract check(request: { caseId: string }): Promise<void>;
}

class Verdict {
  @IsString() caseId!: string;
  @IsInt() score!: number;
}

/** Flipped by tests: the handler's collaborator is down. */
const verdictStore = { broken: false };

@ServiceAdapter({ step: 'check', service: 'checker' })
class CheckAdapter {
  @Input() @IsString() caseId!: string;
  @Output() verdict?: string;
  @Output() score?: number;
  @UseService(Checker) checker!: Checker;

  async callService(): Promise<void> {
    await this.checker.check({ caseId: this.caseId });
  }

  @OnResponse('approved', {
    waitState: 'await-verdict',
    payload: Verdict,
    group: 'verdict',
    businessKey: { caseId: 'caseId' },
  })
  approved(answer: Verdict): string {
    if (verdictStore.broken) throw new Error('verdict store unavailable');
    this.verdict = 'approved';
    this.score = answer.score;
    return 'approved';
  }

  @OnResponse('rejected', {
    waitState: 'await-verdict',
    payload: Verdict,
    group: 'verdict',
    businessKey: { caseId: 'caseId' },
  })
  rejected(answer: Verdict): string {
    this.verdict = 'rejected';
    this.score = answer.score;
    return 'rejected';
  }
}

const checkProcess = defineProcess({
  id: 'check',
  start: 'check',
  steps: {
    check: { kind: 'service', next: 'await-verdict' },
    'await-verdict': { kind: 'wait', transitions: { approved: 'approved', rejected: 'rejected' } },
    approved: { kind: 'end' },
    rejected: { kind: 'end' },
  },
});

describeEachStore('dead letters', () => {
  const temp = useTempDir();
  let h: Harness;
  let checker: RecordingService;

  async function open(parkingTtlMs?: number): Promise<void> {
    verdictStore.broken = false;
    checker = new RecordingService({ check: undefined });
    h = await openHarness({
      file: temp.file(),
      definitions: [checkProcess],
      adapters: [CheckAdapter],
      services: { checker: checker.service },
      registry: { checker: { transport: 'in-process', address: 'checker', parkingTtlMs } },
    });
  }
  afterEach(() => h.close());

  async function startCase(caseId: string): Promise<string> {
    const id = await h.engine.start('check', { caseId }, { instanceId: `case-${caseId}` });
    await h.atStep(id, 'await-verdict');
    return id;
  }

  it('records invalid, handler-failed, late and superseded answers with reason, payload and timestamps, filterable by reason', async () => {
    await open();
    const id = await startCase('K-1');
    const key = checker.last().correlationKey;
    const send = (messageId: string, event: string, payload: unknown) =>
      h.coordinator.receive({ messageId, event, correlationKey: key, payload, source: 'test' });

    // invalid: the DTO check fails; the validation text is kept; the instance keeps waiting.
    expect(await send('m1', 'approved', { caseId: 'K-1', score: 'high' })).toMatchObject({
      status: 'dead-lettered',
      reason: 'invalid',
    });
    // handler-failed: the handler throws; the expectation (and its group) is reopened.
    verdictStore.broken = true;
    expect(await send('m2', 'approved', { caseId: 'K-1', score: 7 })).toMatchObject({
      status: 'dead-lettered',
      reason: 'handler-failed',
    });
    const reopened = await h.query<{ event: string; status: string }>(
      'SELECT event, status FROM psi_expectation ORDER BY event',
    );
    expect(reopened).toEqual([
      { event: 'approved', status: 'open' },
      { event: 'rejected', status: 'open' },
    ]);
    expect((await h.engine.getInstance(id)).currentStep).toBe('await-verdict');

    verdictStore.broken = false;
    expect(await send('m3', 'approved', { caseId: 'K-1', score: 7 })).toMatchObject({
      status: 'delivered',
      instanceId: id,
    });
    // superseded: the group's other answer arrives after the first won.
    expect(await send('m4', 'rejected', { caseId: 'K-1', score: 1 })).toMatchObject({
      reason: 'superseded',
    });
    // late: a second answer for an expectation already delivered.
    expect(await send('m5', 'approved', { caseId: 'K-1', score: 9 })).toMatchObject({
      reason: 'late',
    });

    const final = await h.engine.whenEnded(id);
    expect(final).toMatchObject({
      status: 'completed',
      variables: { verdict: 'approved', score: 7 },
    });

    const all = await h.coordinator.deadLetters.list();
    expect(all.map((l) => [l.messageId, l.reason])).toEqual([
      ['m1', 'invalid'],
      ['m2', 'handler-failed'],
      ['m4', 'superseded'],
      ['m5', 'late'],
    ]);
    for (const letter of all) {
      expect(letter).toMatchObject({
        status: 'open',
        instanceId: id,
        correlationKey: key,
        source: 'test',
      });
      expect(typeof letter.receivedAt).toBe('number');
      expect(letter.createdAt).toBeGreaterThanOrEqual(letter.receivedAt);
      expect(letter.expectationId).toEqual(expect.any(String));
    }
    const [invalid] = await h.coordinator.deadLetters.list({ reason: 'invalid' });
    expect(invalid.payload).toEqual({ caseId: 'K-1', score: 'high' });
    expect(JSON.stringify(invalid.detail)).toContain('score must be an integer number');
    const [failed] = await h.coordinator.deadLetters.list({ reason: 'handler-failed' });
    expect(JSON.stringify(failed.detail)).toContain('verdict store unavailable');
    expect(await h.coordinator.deadLetters.list({ reason: 'late' })).toHaveLength(1);
    expect(await h.coordinator.deadLetters.list({ reason: 'superseded' })).toHaveLength(1);
    expect(await h.coordinator.deadLetters.list({ reason: 'ambiguous' })).toEqual([]);
    expect(await h.coordinator.deadLetters.list({ instanceId: 'someone-else' })).toEqual([]);

    const rows = await h.query<{ reason: string; status: string }>(
      'SELECT reason, status FROM psi_dead_letter ORDER BY "createdAt", rowid',
    );
    expect(rows.map((r) => r.reason)).toEqual(['invalid', 'handler-failed', 'superseded', 'late']);
    const trail = await h.coordinator.auditTrail(id);
    expect(trail.filter((e) => e.kind === 'dead-lettered').map((e) => e.detail?.reason)).toEqual([
      'invalid',
      'handler-failed',
      'superseded',
      'late',
    ]);
    // Each names the invocation whose expectation the answer was for.
    const invocationId = trail.find((e) => e.kind === 'invoked')?.invocationId;
    expect(invocationId).toEqual(expect.any(String));
    for (const entry of trail.filter((e) => e.kind === 'dead-lettered')) {
      expect(entry.invocationId).toBe(invocationId);
    }
  });

  it('replays an expired letter once its expectation exists, and a handler-failed one once the handler recovers', async () => {
    await open(30);
    // Nobody expects it yet; it expires after 30 ms.
    await h.coordinator.receive({
      messageId: 'early',
      event: 'approved',
      payload: { caseId: 'K-2', score: 3 },
    });
    const [expired] = await waitUntil(async () => {
      const found = await h.coordinator.deadLetters.list({ reason: 'expired' });
      return found.length > 0 ? found : undefined;
    }, 'the parked answer expired');
    expect(expired).toMatchObject({
      messageId: 'early',
      instanceId: undefined,
      payload: { caseId: 'K-2', score: 3 },
    });

    const id = await startCase('K-2');
    const outcome = await h.coordinator.deadLetters.replay(expired.id);
    expect(outcome).toMatchObject({ status: 'delivered', instanceId: id });
    expect(await h.engine.whenEnded(id)).toMatchObject({
      status: 'completed',
      variables: { verdict: 'approved', score: 3 },
    });
    expect(await h.coordinator.deadLetters.get(expired.id)).toMatchObject({
      status: 'replayed',
      resolvedAt: expect.any(Number),
      replayOutcome: { status: 'delivered', instanceId: id },
    });
    expect(await h.coordinator.deadLetters.list({ reason: 'expired' })).toEqual([]);
    // A second replay of a resolved letter delivers nothing again and says what the first did.
    expect(await h.coordinator.deadLetters.replay(expired.id)).toEqual({
      ...outcome,
      replayOf: expired.id,
      repeated: true,
    });
    expect((await h.coordinator.auditTrail(id)).filter((e) => e.kind === 'delivered')).toHaveLength(
      1,
    );

    verdictStore.broken = true;
    const other = await startCase('K-3');
    const failed = await h.coordinator.receive({
      event: 'approved',
      payload: { caseId: 'K-3', score: 4 },
    });
    expect(failed).toMatchObject({ reason: 'handler-failed' });
    verdictStore.broken = false;
    const replayed = await h.coordinator.deadLetters.replay(
      (failed as { deadLetterId: string }).deadLetterId,
    );
    expect(replayed).toMatchObject({ status: 'delivered', instanceId: other });
    expect(await h.engine.whenEnded(other)).toMatchObject({
      status: 'completed',
      variables: { verdict: 'approved', score: 4 },
    });
    expect(await h.coordinator.deadLetters.list()).toEqual([]);
    expect(await h.coordinator.deadLetters.list({ status: 'replayed' })).toHaveLength(2);
  });

  it('discards a letter: it leaves the open list, stays in the store, and can no longer be replayed', async () => {
    await open();
    const id = await startCase('K-4');
    const outcome = await h.coordinator.receive({
      event: 'approved',
      payload: { caseId: 'K-4', score: 'bad' },
    });
    const letterId = (outcome as { deadLetterId: string }).deadLetterId;

    await h.coordinator.deadLetters.discard(letterId);

    expect(await h.coordinator.deadLetters.list()).toEqual([]);
    const [discarded] = await h.coordinator.deadLetters.list({ status: 'discarded' });
    expect(discarded).toMatchObject({
      id: letterId,
      reason: 'invalid',
      status: 'discarded',
      resolvedAt: expect.any(Number),
    });
    expect(await h.coordinator.deadLetters.replay(letterId)).toEqual({
      status: 'discarded',
      replayOf: letterId,
    });
    expect((await h.engine.getInstance(id)).currentStep).toBe('await-verdict');
    await expect(h.coordinator.deadLetters.discard('no-such-letter')).rejects.toMatchObject({
      code: PsiErrorCode.DeadLetterNotFound,
    });
    const rows = await h.query<{ status: string }>('SELECT status FROM psi_dead_letter');
    expect(rows).toEqual([{ status: 'discarded' }]);
  });
});
