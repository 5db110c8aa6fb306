import {
  OperationRunner,
  PsiError,
  PsiErrorCode,
  type ActionExecutor,
  type ItemOutcome,
  type OperationView,
} from '@psi/core';
import { describeEachStore, openStoreAt, useTempDir } from '../correlation/fixtures';
import {
  erpState,
  handlerState,
  openOpsWorld,
  operator,
  sideEffects,
  waitUntil,
  type OpsWorld,
} from './ops-world';

// Issue 19, the action side of the operations API: every action, single and bulk by filter
// (dry run, confirmation, rate, required reason, per-item results), each audited with actor,
// reason and channel, effective at once in the running coordinator; and a bulk run that another
// node continues when the one running it dies.

const codeOf = async (work: Promise<unknown>) => {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  return PsiError.is(error) ? error.code : error;
};

describeEachStore('operations API: actions', () => {
  const temp = useTempDir('psi-ops-act-');
  let w: OpsWorld;

  beforeEach(async () => {
    handlerState.broken = false;
    erpState.down = true;
    sideEffects.clear();
    w = await openOpsWorld(temp.file());
  });
  afterEach(() => w?.h.close());

  const ops = () => w.h.coordinator.operations;
  const run = async (submitted: Promise<OperationView>) =>
    ops().waitFor((await submitted).id, { timeoutMs: 20_000 });

  /** `n` orders waiting at "await" whose answers became handler-failed dead letters. */
  async function failedAnswers(n: number): Promise<string[]> {
    const instances: string[] = [];
    handlerState.broken = true;
    for (let i = 1; i <= n; i++) {
      const instanceId = await w.startOrder(`PO-${i}`);
      await w.proceed(instanceId);
      await w.confirm(`PO-${i}`, `C-${i}`, `m-${i}`);
      instances.push(instanceId);
    }
    handlerState.broken = false;
    return instances;
  }

  it('replays one dead letter: delivered once, audited with actor, reason and channel', async () => {
    const [instanceId] = await failedAnswers(1);
    const [letter] = (await ops().deadLetters({ reason: 'handler-failed' })).items;

    expect(
      await codeOf(
        ops().submit({
          action: 'replay',
          target: { ids: [letter.id] },
          by: { actor: 'bob', reason: ' ', channel: 'api' },
        }),
      ),
    ).toBe(PsiErrorCode.OperationReasonRequired);
    expect(
      await codeOf(ops().submit({ action: 'replay', target: { ids: ['nope'] }, by: operator() })),
    ).toBe(PsiErrorCode.DeadLetterNotFound);

    const done = await run(
      ops().submit({ action: 'replay', target: { ids: [letter.id] }, by: operator('bob', 'cli') }),
    );
    expect(done).toMatchObject({
      status: 'done',
      succeeded: 1,
      failed: 0,
      skipped: 0,
      actor: 'bob',
      channel: 'cli',
    });
    await w.endsAt(instanceId, 'done');
    expect(sideEffects.get('PO-1')).toBe(1);
    expect((await ops().get('dead-letters', letter.id)) as { status: string }).toMatchObject({
      status: 'replayed',
    });
    const [item] = await ops().items(done.id);
    expect(item).toMatchObject({ target: letter.id, status: 'succeeded', instanceId });
    expect(item.outcome?.receive).toEqual({
      status: 'delivered',
      instanceId,
      expectationId: expect.any(String),
    });
    const replayed = (await ops().timeline(instanceId)).audit.find((a) => a.kind === 'replayed');
    expect(replayed?.detail).toMatchObject({
      actor: 'bob',
      reason: 'test by bob',
      channel: 'cli',
      operationId: done.id,
      deadLetterId: letter.id,
    });

    // A second replay of the same letter does nothing: it is no longer open.
    const again = await run(
      ops().submit({ action: 'replay', target: { ids: [letter.id] }, by: operator() }),
    );
    expect(again).toMatchObject({ status: 'done', succeeded: 0, skipped: 1 });
    expect(sideEffects.get('PO-1')).toBe(1);
    expect((await ops().recentActions()).map((a) => a.kind)).toEqual(['replayed']);
  });

  it('bulk replay by filter: a dry run changes nothing, confirmation is required, each item has its result', async () => {
    const instances = await failedAnswers(4);
    // An invalid answer: a dead letter of another reason, which the filter must leave alone.
    const other = await w.startOrder('PO-X');
    await w.proceed(other);
    await w.h.coordinator.receive({
      messageId: 'stray',
      event: 'confirmed',
      payload: { orderNumber: 'PO-X' },
    });
    const filter = { reason: 'handler-failed' };
    const before = await w.h.query('SELECT id, status FROM psi_dead_letter ORDER BY id');

    const preview = await ops().preview({ action: 'replay', filter });
    expect(preview.count).toBe(4);
    expect(preview.list).toBe('dead-letters');
    expect(preview.sample.map((d) => (d as { messageId: string }).messageId)).toEqual([
      'm-1',
      'm-2',
      'm-3',
      'm-4',
    ]);
    expect(await w.h.query('SELECT id, status FROM psi_dead_letter ORDER BY id')).toEqual(before);
    expect(
      await codeOf(ops().submit({ action: 'replay', target: { filter }, by: operator() })),
    ).toBe(PsiErrorCode.OperationNotConfirmed);
    expect(await w.h.query('SELECT id FROM psi_operation')).toEqual([]);
    expect(await codeOf(ops().preview({ action: 'replay', filter: { status: 'discarded' } }))).toBe(
      PsiErrorCode.OperationInvalid,
    );

    const progress: number[] = [];
    const submitted = await ops().submit({
      action: 'replay',
      target: { filter },
      by: operator('carol', 'console'),
      confirmed: true,
      ratePerSecond: 40,
    });
    expect(submitted).toMatchObject({ total: 4, ratePerSecond: 40, status: 'pending' });
    const done = await ops().waitFor(submitted.id, {
      onProgress: (r) => progress.push(r.succeeded),
      timeoutMs: 20_000,
    });
    expect(done).toMatchObject({ status: 'done', succeeded: 4, failed: 0, skipped: 0 });
    expect(progress.at(-1)).toBe(4);
    for (const instanceId of instances) await w.endsAt(instanceId, 'done');
    expect([...sideEffects.values()]).toEqual([1, 1, 1, 1]);
    const items = await ops().items(done.id);
    expect(items.map((i) => [i.position, i.status, i.outcome?.receive?.status])).toEqual([
      [1, 'succeeded', 'delivered'],
      [2, 'succeeded', 'delivered'],
      [3, 'succeeded', 'delivered'],
      [4, 'succeeded', 'delivered'],
    ]);
    // The rate: four starts at 40/s take at least three intervals of 25 ms.
    expect(items[3].startedAt - items[0].startedAt).toBeGreaterThanOrEqual(75);
    const stray = (await ops().deadLetters({ messageId: 'stray' })).items[0];
    expect(stray).toMatchObject({ reason: 'invalid', status: 'open' });
    const submittedEntry = (await ops().recentActions()).find((a) => a.kind === 'operation');
    expect(submittedEntry?.detail).toMatchObject({
      actor: 'carol',
      channel: 'console',
      event: 'submitted',
      count: 4,
      filter,
    });
  });

  it('discards, expires a parked answer and releases a guard, each audited', async () => {
    const [instanceId] = await failedAnswers(1);
    const [letter] = (await ops().deadLetters()).items;
    const discarded = await run(
      ops().submit({ action: 'discard', target: { ids: [letter.id] }, by: operator('dave') }),
    );
    expect(discarded).toMatchObject({ status: 'done', succeeded: 1 });
    expect((await ops().get('dead-letters', letter.id)) as { status: string }).toMatchObject({
      status: 'discarded',
    });
    expect(
      (await ops().timeline(instanceId)).audit.find((a) => a.kind === 'discarded')?.detail,
    ).toMatchObject({ actor: 'dave', deadLetterId: letter.id });

    const parkedFor = await w.startOrder('PO-P');
    await w.confirm('PO-P');
    const [parked] = (await ops().parked()).items;
    const expired = await run(
      ops().submit({ action: 'expire-parked', target: { ids: [parked.id] }, by: operator('erin') }),
    );
    expect(expired).toMatchObject({ status: 'done', succeeded: 1 });
    expect((await ops().parked()).items).toEqual([]);
    const [dead] = (await ops().deadLetters({ reason: 'expired' })).items;
    expect(dead).toMatchObject({
      instanceId: parkedFor,
      detail: expect.objectContaining({ expiredBy: 'erin' }),
    });
    expect((await ops().timeline(parkedFor)).audit.map((a) => a.kind)).toEqual(
      expect.arrayContaining(['dead-lettered', 'parked-expired']),
    );

    await w.h.coordinator.guard.start('export', 3_600_000, 'worker-1');
    expect((await w.h.coordinator.guard.start('export', 1000, 'worker-2')).started).toBe(false);
    expect(
      await codeOf(
        ops().submit({ action: 'release-guard', target: { ids: ['unheld'] }, by: operator() }),
      ),
    ).toBe(PsiErrorCode.GuardNotHeld);
    const released = await run(
      ops().submit({ action: 'release-guard', target: { ids: ['export'] }, by: operator('frank') }),
    );
    expect(released).toMatchObject({ status: 'done', succeeded: 1 });
    // At once, for everyone sharing the store: the next start wins.
    expect((await w.h.coordinator.guard.start('export', 1000, 'worker-2')).started).toBe(true);
    const entry = (await ops().recentActions()).find((a) => a.kind === 'guard-released');
    expect(entry?.detail).toMatchObject({ actor: 'frank', guardId: 'export', owner: 'worker-1' });
  });

  it('thaws a frozen invocation, injects an answer, and reports a parked answer as still parked or no longer parked', async () => {
    await w.h.engine.start('booking', { orderNumber: 'PO-9' }, { instanceId: 'book-9' });
    const frozen = await waitUntil(
      async () => (await ops().invocations({ status: 'frozen' })).items[0],
      'frozen',
    );
    erpState.down = false;
    const thawed = await run(
      ops().submit({
        action: 'thaw',
        target: { filter: { service: 'erp' } },
        by: operator('gina'),
        confirmed: true,
      }),
    );
    expect(thawed).toMatchObject({ status: 'done', succeeded: 1 });
    await w.endsAt('book-9', 'booked');
    expect((await ops().get('invocations', frozen.id)) as { status: string }).toMatchObject({
      status: 'completed',
    });
    expect(
      (await ops().timeline('book-9')).audit.find((a) => a.kind === 'thawed')?.detail,
    ).toMatchObject({ actor: 'gina', reason: 'test by gina' });

    const waiting = await w.startOrder('PO-I');
    await w.proceed(waiting);
    const injected = await run(
      ops().submit({
        action: 'inject',
        message: { event: 'confirmed', payload: { orderNumber: 'PO-I', confirmationId: 'C-I' } },
        by: operator('hank'),
      }),
    );
    expect(injected).toMatchObject({ status: 'done', succeeded: 1 });
    await w.endsAt(waiting, 'done');
    expect(
      (await ops().timeline(waiting)).audit.find((a) => a.kind === 'injected')?.detail,
    ).toMatchObject({ actor: 'hank', outcome: { status: 'delivered' } });

    // A parked answer whose readiness was missed (the engine moved while no coordinator listened).
    const missed = await w.startOrder('PO-M');
    await w.confirm('PO-M');
    const parked = (await ops().parked({ instanceId: missed })).items[0];
    const early = await run(
      ops().submit({ action: 'release-parked', target: { ids: [parked.id] }, by: operator() }),
    );
    expect(early).toMatchObject({ status: 'done', skipped: 1 });
    expect((await ops().items(early.id))[0].outcome?.message).toContain('still parked');
    const file = w.h.file;
    await w.h.coordinator.close();
    await w.h.engine.signal(missed, 'hold', { transition: 'go' }); // nobody hears the event
    await w.h.engine.stop();
    await w.h.store.close();
    // The next coordinator on the store releases it by itself at start (no operator needed);
    // a release asked for afterwards finds nothing left to do.
    w = await openOpsWorld(file);
    await w.endsAt(missed, 'done');
    expect((await ops().parked({ instanceId: missed })).items).toHaveLength(0);
    await expect(
      ops().submit({ action: 'release-parked', target: { ids: [parked.id] }, by: operator('ivy') }),
    ).rejects.toMatchObject({ code: 'PSI_PARKED_ANSWER_NOT_FOUND' });
    expect((await ops().timeline(missed)).audit.map((a) => a.kind)).toEqual(
      expect.arrayContaining(['released', 'delivered']),
    );
  });

  it('a bulk run left by a node that died is continued by another, each item done once', async () => {
    await failedAnswers(3);
    const submitted = await ops().submit({
      action: 'replay',
      target: { filter: { reason: 'handler-failed' } },
      by: operator(),
      confirmed: true,
      ratePerSecond: 1000,
    });
    // A node that replays the first letter, then dies before recording it (never settles), with
    // a short lease. The coordinator's own runner must not take the run meanwhile: stop it first.
    await w.h.coordinator.close();
    const file = w.h.file;
    await w.h.engine.stop();
    await w.h.store.close();
    w = await openOpsWorld(file, { operations: { run: false } });
    let hang: (outcome: ItemOutcome) => void = () => undefined;
    const dying: ActionExecutor = {
      actions: ['replay'],
      execute: async (_action, target, context) => {
        await w.h.coordinator.deadLetters.replay(target, context.by);
        return new Promise<ItemOutcome>((resolve) => (hang = resolve));
      },
    };
    // Its own connection to the store, closed when it "dies": its lease is no longer renewed.
    const deadStore = await openStoreAt(file);
    const dead = new OperationRunner({
      store: deadStore,
      executor: dying,
      nodeId: 'node-dead',
      leaseMs: 300,
      pollMs: 10_000,
      onError: () => undefined,
    });
    dead.start();
    await waitUntil(
      async () => (await ops().items(submitted.id)).length === 1,
      'the dying node started an item',
    );
    await waitUntil(() => sideEffects.size === 1, 'its replay delivered');
    await deadStore.close();
    // Another node on the same store takes the run over once the lease lapsed.
    const survivor = await openOpsWorld(file, { nodeId: 'node-b', leaseMs: 300 });
    try {
      const done = await survivor.h.coordinator.operations.waitFor(submitted.id, {
        timeoutMs: 20_000,
      });
      expect(done).toMatchObject({ status: 'done', succeeded: 3, failed: 0 });
      await waitUntil(() => sideEffects.size === 3, 'all three delivered');
      expect([...sideEffects.values()]).toEqual([1, 1, 1]);
      const items = await ops().items(submitted.id);
      expect(items[0].outcome?.message).toBe('already replayed before a restart');
      expect(items.map((i) => i.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    } finally {
      hang({ status: 'failed', message: 'the dead node woke up' });
      await dead.stop();
      await survivor.h.close();
    }
    // The dead node's late settle changed nothing.
    expect((await ops().operation(submitted.id)).succeeded).toBe(3);
  });

  it("the coordinator's own replay, discard and thaw record who and why in the audit trail", async () => {
    const [first, second] = await failedAnswers(2);
    const letters = (await ops().deadLetters({}, { order: 'oldest' })).items;
    await w.h.coordinator.deadLetters.discard(letters[0].id, operator('lee', 'admin-job'));
    await w.h.coordinator.deadLetters.replay(letters[1].id); // no `by`: the application
    await w.endsAt(second, 'done');
    const discarded = (await ops().timeline(first)).audit.find((a) => a.kind === 'discarded');
    expect(discarded?.detail).toMatchObject({
      actor: 'lee',
      channel: 'admin-job',
      reason: 'test by lee',
    });
    const replayed = (await ops().timeline(second)).audit.find((a) => a.kind === 'replayed');
    expect(replayed?.detail).toMatchObject({ actor: 'application', channel: 'api' });

    await w.h.engine.start('booking', { orderNumber: 'PO-9' }, { instanceId: 'book-9' });
    const frozen = await waitUntil(
      async () => (await ops().invocations({ status: 'frozen' })).items[0],
      'frozen',
    );
    erpState.down = false;
    await w.h.coordinator.thaw(frozen.id, operator('mo'));
    const thawed = (await ops().timeline('book-9')).audit.find((a) => a.kind === 'thawed');
    expect(thawed?.detail).toMatchObject({ actor: 'mo', reason: 'test by mo', channel: 'api' });
  });

  it('cancels a bulk run between items', async () => {
    await failedAnswers(3);
    await w.h.coordinator.close();
    const file = w.h.file;
    await w.h.engine.stop();
    await w.h.store.close();
    w = await openOpsWorld(file, { operations: { run: false } });
    const submitted = await ops().submit({
      action: 'discard',
      target: { filter: {} },
      by: operator(),
      confirmed: true,
    });
    expect(await ops().cancel(submitted.id, operator('kim'))).toBe(true);
    const runner = ops().storeActionRunner({ nodeId: 'cli', only: submitted.id });
    runner.start();
    await runner.stop();
    expect(await ops().operation(submitted.id)).toMatchObject({
      status: 'cancelled',
      succeeded: 0,
    });
    expect((await ops().deadLetters({ status: 'open' })).items).toHaveLength(3);
    expect(await ops().cancel(submitted.id, operator('kim'))).toBe(false);
  });
});
