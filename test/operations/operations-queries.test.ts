import {
  PsiErrorCode,
  PsiError,
  type DeadLetterView,
  type ParkedView,
  type RecordFilter,
} from '@psi/core';
import { describeEachStore, useTempDir } from '../correlation/fixtures';
import { erpState, handlerState, openOpsWorld, waitUntil, type OpsWorld } from './ops-world';

// Issue 19, the query side of the operations API: every list with every filter it has, counts,
// paging, dead-letter groups, an instance's timeline and the overview, on each store.

const expectCode = async (work: Promise<unknown>, code: string) => {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(PsiError.is(error) && error.code).toBe(code);
};

describeEachStore('operations API: queries', () => {
  const temp = useTempDir('psi-ops-');
  let w: OpsWorld;
  const ids: Record<string, string> = {};
  let startedAt: number;

  beforeAll(async () => {
    startedAt = Date.now();
    handlerState.broken = false;
    erpState.down = true;
    w = await openOpsWorld(temp.file());
    // PO-1 rests at "hold": its answer is parked until the instance is ready.
    ids.po1 = await w.startOrder('PO-1');
    await w.confirm('PO-1');
    // An answer for an order nobody placed: parked with no expectation.
    await w.h.coordinator.receive({
      messageId: 'ghost-1',
      event: 'confirmed',
      payload: { orderNumber: 'PO-GHOST', confirmationId: 'C-G' },
    });
    // PO-2 waits at "await": an invalid answer and a failing handler make two dead letters.
    ids.po2 = await w.startOrder('PO-2');
    await w.proceed(ids.po2);
    await w.h.coordinator.receive({
      messageId: 'bad-2',
      event: 'confirmed',
      payload: { orderNumber: 'PO-2' },
    });
    handlerState.broken = true;
    await w.confirm('PO-2', 'C-2', 'broken-2');
    handlerState.broken = false;
    // PO-3 is confirmed, then confirmed again: a late dead letter.
    ids.po3 = await w.startOrder('PO-3');
    await w.proceed(ids.po3);
    await w.confirm('PO-3', 'C-3', 'ok-3');
    await w.confirm('PO-3', 'C-3b', 'again-3');
    // A frozen invocation (the ERP is down, one attempt).
    await w.h.engine.start('booking', { orderNumber: 'PO-9' }, { instanceId: 'book-PO-9' });
    await waitUntil(
      async () => (await w.h.coordinator.invocations({ status: 'frozen' })).length === 1,
      'the booking froze',
    );
    // Guards: one held, one expired.
    await w.h.coordinator.guard.start('nightly-export', 3_600_000, 'worker-7');
    await w.h.coordinator.guard.start('old-job', 1, 'worker-1');
    await waitUntil(
      async () => !(await w.h.coordinator.guard.isRunning('old-job')),
      'old-job expired',
    );
    await w.h.coordinator.idle();
  });
  afterAll(() => w?.h.close());

  const ops = () => w.h.coordinator.operations;

  it('lists open expectations: what each instance waits for, until when, and by which keys', async () => {
    const page = await ops().expectations({ status: 'open' });
    expect(page.items.map((e) => e.instanceId).sort()).toEqual([ids.po1, ids.po2]);
    const po1 = page.items.find((e) => e.instanceId === ids.po1)!;
    expect(po1).toMatchObject({
      event: 'confirmed',
      waitState: 'await',
      service: 'supplier',
      step: 'send',
      correlationKey: w.keys.get('PO-1'),
      businessKey: JSON.stringify([['orderNumber', 'PO-1']]),
      timeoutTransition: 'timed-out',
      parkedAnswers: 1,
      status: 'open',
    });
    expect(po1.deadline! - po1.createdAt).toBe(3_600_000);
    expect(po1.timeLeftMs).toBeGreaterThan(3_500_000);
    expect(po1.traceId).toBeUndefined();

    // Each filter the list has narrows it.
    const one = async (filter: RecordFilter) =>
      (await ops().expectations(filter)).items.map((e) => e.instanceId).sort();
    expect(await one({ instanceId: ids.po2 })).toEqual([ids.po2]);
    expect(await one({ correlationKey: w.keys.get('PO-2') })).toEqual([ids.po2]);
    expect(await one({ businessKey: 'PO-1' })).toEqual([ids.po1]);
    expect(await one({ businessKey: 'orderNumber=PO-3' })).toEqual([ids.po3]);
    expect(await one({ businessKey: 'orderNumber=PO-' })).toEqual([]); // whole values only
    expect(await one({ event: 'confirmed', status: 'delivered' })).toEqual([ids.po3]);
    expect(await one({ event: 'nope' })).toEqual([]);
    expect(await one({ service: 'supplier' })).toEqual([ids.po1, ids.po2, ids.po3]);
    expect(await one({ service: 'erp' })).toEqual([]);
    expect(await one({ from: startedAt, to: Date.now() + 1 })).toEqual([ids.po1, ids.po2, ids.po3]);
    expect(await one({ to: startedAt })).toEqual([]);
    expect(await one({ minAgeMs: 3_600_000 })).toEqual([]);
    expect(await one({ maxAgeMs: 3_600_000 })).toEqual([ids.po1, ids.po2, ids.po3]);
    expect(await ops().count('expectations', { status: 'open' })).toBe(2);
  });

  it('lists parked answers with why they are parked, TTL left and where they will go', async () => {
    const page = await ops().parked();
    expect(page.items).toHaveLength(2);
    const [ghost, early] = page.items as ParkedView[]; // newest first
    expect(early).toMatchObject({
      reason: 'instance-not-ready',
      instanceId: ids.po1,
      waitState: 'await',
      service: 'supplier',
      event: 'confirmed',
      payload: { orderNumber: 'PO-1', confirmationId: 'C-PO-1' },
    });
    expect(early.ttlLeftMs).toBeGreaterThan(0);
    expect(early.expiresAt - early.receivedAt).toBe(604_800_000);
    expect(ghost).toMatchObject({ reason: 'no-expectation', messageId: 'ghost-1' });
    expect(ghost.instanceId).toBeUndefined();
    expect(ghost.waitState).toBeUndefined();

    const ids_ = async (filter: object) =>
      (await ops().parked(filter)).items.map((p) => p.messageId).sort();
    expect(await ids_({ reason: 'no-expectation' })).toEqual(['ghost-1']);
    expect(await ids_({ reason: 'instance-not-ready' })).toEqual([early.messageId]);
    expect(await ids_({ messageId: 'ghost-1' })).toEqual(['ghost-1']);
    expect(await ids_({ instanceId: ids.po1 })).toEqual([early.messageId]);
    expect(await ids_({ service: 'supplier' })).toEqual([early.messageId]);
    expect(await ids_({ businessKey: 'PO-GHOST' })).toEqual(['ghost-1']);
    expect(await ids_({ event: 'confirmed', minAgeMs: 0 })).toHaveLength(2);
    expect(await ids_({ correlationKey: 'none' })).toEqual([]);
    expect(await ops().count('parked', { reason: 'no-expectation' })).toBe(1);
    expect(((await ops().get('parked', early.id)) as ParkedView).messageId).toBe(early.messageId);
  });

  it('lists dead letters with reason, status and service, and groups them', async () => {
    const page = await ops().deadLetters();
    const byMessage = new Map(page.items.map((d) => [d.messageId, d as DeadLetterView]));
    expect([...byMessage.keys()].sort()).toEqual(['again-3', 'bad-2', 'broken-2']);
    expect(byMessage.get('bad-2')).toMatchObject({
      reason: 'invalid',
      instanceId: ids.po2,
      service: 'supplier',
      waitState: 'await',
      status: 'open',
    });
    expect(byMessage.get('broken-2')!.reason).toBe('handler-failed');
    expect(byMessage.get('again-3')!.reason).toBe('late');

    const messages = async (filter: object) =>
      (await ops().deadLetters(filter)).items.map((d) => d.messageId).sort();
    expect(await messages({ reason: 'late' })).toEqual(['again-3']);
    expect(await messages({ instanceId: ids.po2 })).toEqual(['bad-2', 'broken-2']);
    expect(await messages({ messageId: 'bad-2' })).toEqual(['bad-2']);
    expect(await messages({ businessKey: 'PO-3' })).toEqual(['again-3']);
    expect(await messages({ service: 'supplier', status: 'open' })).toHaveLength(3);
    expect(await messages({ status: 'replayed' })).toEqual([]);
    expect(await messages({ event: 'confirmed', maxAgeMs: 60_000 })).toHaveLength(3);
    expect(await messages({ correlationKey: 'x' })).toEqual([]);
    expect(await messages({ from: Date.now() + 1_000 })).toEqual([]);

    const groups = await ops().deadLetterGroups();
    expect(groups.map((g) => [g.reason, g.event, g.service, g.count]).sort()).toEqual([
      ['handler-failed', 'confirmed', 'supplier', 1],
      ['invalid', 'confirmed', 'supplier', 1],
      ['late', 'confirmed', 'supplier', 1],
    ]);
  });

  it('lists invocations with their last error and attempts, and guards with TTL left', async () => {
    const frozen = (await ops().invocations({ status: 'frozen' })).items;
    expect(frozen).toHaveLength(1);
    expect(frozen[0]).toMatchObject({
      instanceId: 'book-PO-9',
      service: 'erp',
      step: 'book',
      attempts: 1,
      lastError: expect.objectContaining({ code: PsiErrorCode.TransportTechnical }),
    });
    expect((await ops().invocations({ service: 'supplier' })).items).toHaveLength(3);
    expect((await ops().invocations({ instanceId: ids.po1 })).items).toHaveLength(1);
    expect(
      (await ops().invocations({ correlationKey: w.keys.get('PO-1') })).items[0].instanceId,
    ).toBe(ids.po1);
    expect((await ops().invocations({ minAgeMs: 3_600_000 })).items).toEqual([]);

    const guards = (await ops().guards()).items;
    expect(guards.map((g) => [g.id, g.owner, g.status])).toEqual([
      ['old-job', 'worker-1', 'expired'],
      ['nightly-export', 'worker-7', 'held'],
    ]);
    expect(guards[1].ttlLeftMs).toBeGreaterThan(3_500_000);
    expect((await ops().guards({ status: 'held' })).items.map((g) => g.id)).toEqual([
      'nightly-export',
    ]);
    expect((await ops().guards({ owner: 'worker-1' })).items.map((g) => g.id)).toEqual(['old-job']);
    expect((await ops().guards({ guardId: 'old-job', maxAgeMs: 60_000 })).items).toHaveLength(1);
  });

  it('pages with an opaque cursor, newest or oldest first', async () => {
    const all = (await ops().invocations({}, { limit: 100, order: 'oldest' })).items.map(
      (i) => i.id,
    );
    expect(all).toHaveLength(4);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await ops().invocations({}, { limit: 3, order: 'oldest', cursor });
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all);
    const newest = await ops().invocations({}, { limit: 1 });
    expect(newest.items[0].id).toBe(all[3]);
    const next = await ops().invocations({}, { limit: 1, cursor: newest.nextCursor });
    expect(next.items[0].id).toBe(all[2]);
  });

  it('refuses filters a list does not have, bad values and foreign cursors', async () => {
    await expectCode(ops().guards({ event: 'x' }), PsiErrorCode.OperationInvalid);
    await expectCode(ops().invocations({ messageId: 'x' }), PsiErrorCode.OperationInvalid);
    await expectCode(ops().deadLetters({ reason: 'tired' }), PsiErrorCode.OperationInvalid);
    await expectCode(ops().deadLetters({ status: 'gone' }), PsiErrorCode.OperationInvalid);
    await expectCode(ops().parked({ minAgeMs: -1 }), PsiErrorCode.OperationInvalid);
    await expectCode(ops().parked({}, { cursor: 'garbage' }), PsiErrorCode.OperationInvalid);
    await expectCode(ops().parked({}, { limit: 5000 }), PsiErrorCode.OperationInvalid);
    await expectCode(ops().get('dead-letters', 'nope'), PsiErrorCode.DeadLetterNotFound);
    await expectCode(ops().get('parked', 'x'), PsiErrorCode.ParkedAnswerNotFound);
  });

  it("joins an instance's audit, invocations, expectations, parked answers and dead letters", async () => {
    const timeline = await ops().timeline(ids.po2);
    expect(timeline.invocations).toHaveLength(1);
    expect(timeline.expectations).toHaveLength(1);
    expect(timeline.deadLetters.map((d) => d.reason).sort()).toEqual(['handler-failed', 'invalid']);
    expect(timeline.parked).toEqual([]);
    expect(timeline.audit.map((a) => a.kind)).toEqual(
      expect.arrayContaining(['invoked', 'sent', 'dead-lettered']),
    );
    expect(timeline.entries.map((e) => e.kind)).toEqual(
      expect.arrayContaining(['invoked', 'expecting', 'dead-lettered']),
    );
    const times = timeline.entries.map((e) => e.at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(timeline.traceId).toBeUndefined();
    const po1 = await ops().timeline(ids.po1);
    expect(po1.parked).toHaveLength(1);
    expect(po1.entries.some((e) => e.source === 'parked')).toBe(true);
  });

  it('counts what waits, is parked, dead, frozen or held, and charts activity', async () => {
    const overview = await ops().overview({ windowMs: 3_600_000, buckets: 12 });
    expect(overview.expectations).toEqual({ open: 2, overdue: 0, claimed: 0 });
    expect(overview.parked).toEqual({ total: 2, noExpectation: 1, instanceNotReady: 1 });
    expect(overview.deadLetters).toEqual({
      open: 3,
      byReason: { invalid: 1, 'handler-failed': 1, late: 1 },
    });
    expect(overview.invocations.frozen).toBe(1);
    expect(overview.guards).toEqual({ held: 1 });
    expect(overview.activity.buckets).toHaveLength(12);
    const sum = (key: 'parked' | 'deadLettered' | 'delivered') =>
      overview.activity.buckets.reduce((n, b) => n + b[key], 0);
    expect(sum('parked')).toBe(2);
    expect(sum('deadLettered')).toBe(3);
    expect(sum('delivered')).toBe(1);
  });
});
