import {
  Input,
  OnResponse,
  Output,
  ServiceAdapter,
  UseService,
  type ResponseContext,
} from '@psi/core';
import { defineProcess } from '@psi/engines';
import {
  describeEachStore,
  kinds,
  openHarness,
  openStoreAt,
  RecordingService,
  useTempDir,
  waitUntil,
  type Harness,
} from '../correlation/fixtures';
import { portableQuery } from '../foundation/test-stores';

// Issue 21: a claim is a commitment. Once an answer's claim is recorded, that answer has won
// its group and its race against the deadline; when its node dies, recovery finishes the
// delivery (the handler again, with the claim's delivery id, then the engine's signal) unless
// the engine took the signal already. It never reopens the group, never lets the deadline fire
// over it, never leaves an `interrupted` letter for an operator. The dead node's state is made
// by hand here (test/crash and test/soak kill real processes), so each case is exact.

/** Every handler run, in order: which answer, with which delivery id, redelivered or not. */
const runs: Array<{ event: string; deliveryId: string; redelivered: boolean }> = [];

abstract class Courier {
  abstract dispatch(request: { parcel: string }): Promise<void>;
}

@ServiceAdapter({ step: 'dispatch', service: 'courier' })
class DispatchAdapter {
  @Input() parcel!: string;
  @Output() outcome?: string;
  @UseService(Courier) courier!: Courier;

  async callService(): Promise<void> {
    await this.courier.dispatch({ parcel: this.parcel });
  }

  // Exclusive: shipping the order and refunding it must never both happen.
  @OnResponse('accepted', {
    waitState: 'await-outcome',
    group: 'outcome',
    timeoutMs: 60_000,
    timeoutTransition: 'timeout',
  })
  accepted(answer: { by: string }, delivery: ResponseContext): string {
    runs.push({ event: 'accepted', ...pick(delivery) });
    this.outcome = `shipped by ${answer.by}`;
    return 'accepted';
  }

  @OnResponse('rejected', { waitState: 'await-outcome', group: 'outcome' })
  rejected(_answer: unknown, delivery: ResponseContext): string {
    runs.push({ event: 'rejected', ...pick(delivery) });
    this.outcome = 'refunded';
    return 'rejected';
  }
}

function pick(delivery: ResponseContext): { deliveryId: string; redelivered: boolean } {
  return { deliveryId: delivery.deliveryId, redelivered: delivery.redelivered };
}

const dispatchProcess = defineProcess({
  id: 'dispatch',
  start: 'dispatch',
  steps: {
    dispatch: { kind: 'service', next: 'await-outcome' },
    'await-outcome': {
      kind: 'wait',
      transitions: { accepted: 'shipped', rejected: 'refunded', timeout: 'chased' },
    },
    shipped: { kind: 'wait', next: 'done' },
    refunded: { kind: 'wait', next: 'done' },
    chased: { kind: 'wait', next: 'done' },
    done: { kind: 'end' },
  },
});

describeEachStore('a claim is a commitment', () => {
  const temp = useTempDir('psi-commitment-');
  const harnesses: Harness[] = [];
  let courier: RecordingService;
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.close();
  });
  beforeEach(() => {
    runs.length = 0;
    infos.length = 0;
    courier = new RecordingService({ dispatch: undefined });
  });

  const infos: Array<{ message: string; detail?: unknown }> = [];

  async function node(
    file: string,
    nodeId: string,
    restore = false,
    leaseMs = 30_000,
  ): Promise<Harness> {
    const h: Harness = await openHarness({
      file,
      definitions: [dispatchProcess],
      adapters: [DispatchAdapter],
      services: { courier: courier.service },
      registry: { courier: { transport: 'in-process', address: 'courier' } },
      coordinator: {
        nodeId,
        leaseMs,
        logger: {
          warn: (message, detail) => h.problems.push({ level: 'warn', message, detail }),
          error: (message, detail) => h.problems.push({ level: 'error', message, detail }),
          info: (message, detail) => infos.push({ message, detail }),
        },
      },
      restore,
    });
    harnesses.push(h);
    return h;
  }

  async function close(h: Harness): Promise<void> {
    harnesses.splice(harnesses.indexOf(h), 1);
    await h.close();
  }

  /**
   * An instance waiting at "await-outcome" whose `accepted` answer a node claimed (closing the
   * group, as the claim's transaction does) before dying: its claim expires `expiresInMs` from
   * now; the deadline is `deadlineInMs` from now. The node that made it is closed.
   */
  async function claimedThenDied(
    file: string,
    claimedBy: string,
    options: { expiresInMs: number; deadlineInMs?: number },
  ): Promise<{ id: string; accepted: string; rejected: string; correlationKey: string }> {
    const h = await node(file, 'starter');
    const id = await h.engine.start('dispatch', { parcel: 'P-1' });
    await h.atStep(id, 'await-outcome');
    const rows = await h.query<{ id: string; event: string; correlationKey: string }>(
      'SELECT id, event, "correlationKey" FROM psi_expectation',
    );
    const accepted = rows.find((r) => r.event === 'accepted')!;
    const rejected = rows.find((r) => r.event === 'rejected')!;
    await close(h);
    const message = {
      messageId: 'answer-accepted',
      sender: 'test',
      event: 'accepted',
      correlationKey: accepted.correlationKey,
      businessKeys: [],
      payload: { by: 'courier' },
      payloadText: JSON.stringify({ by: 'courier' }),
      source: 'test',
      receivedAt: Date.now(),
    };
    // Written on a bare store: no coordinator of this test may run a sweep in between.
    const store = await openStoreAt(file);
    try {
      await portableQuery(
        store,
        `UPDATE psi_expectation SET status = 'claimed', "claimedBy" = ?, "claimExpiresAt" = ?, "claimedMessage" = ?, "deliveryId" = ?, deadline = ? WHERE id = ?`,
        [
          claimedBy,
          Date.now() + options.expiresInMs,
          JSON.stringify(message),
          'delivery-1',
          Date.now() + (options.deadlineInMs ?? 60_000),
          accepted.id,
        ],
      );
      await portableQuery(store, `UPDATE psi_expectation SET status = 'superseded' WHERE id = ?`, [
        rejected.id,
      ]);
    } finally {
      await store.close();
    }
    return {
      id,
      accepted: accepted.id,
      rejected: rejected.id,
      correlationKey: accepted.correlationKey,
    };
  }

  async function statuses(h: Harness): Promise<Record<string, string>> {
    const rows = await h.query<{ event: string; status: string }>(
      'SELECT event, status FROM psi_expectation',
    );
    return Object.fromEntries(rows.map((r) => [r.event, r.status]));
  }

  it('one of many: the claimed answer is finished (handler again, same delivery id); the group is never reopened, its sibling stays superseded (21.1, 21.2)', async () => {
    const file = temp.file();
    const { id, correlationKey } = await claimedThenDied(file, 'dead-node', { expiresInMs: -1 });

    const h = await node(file, 'survivor', true);
    expect(await h.atStep(id, 'shipped')).toMatchObject({
      variables: { outcome: 'shipped by courier' },
    });
    await h.coordinator.idle();
    expect(runs).toEqual([{ event: 'accepted', deliveryId: 'delivery-1', redelivered: true }]);
    expect(await statuses(h)).toEqual({ accepted: 'delivered', rejected: 'superseded' });
    // Recovery says what it finished, at info level, with counts.
    expect(infos).toEqual([
      {
        message:
          'Recovery at start: claimed deliveries finished: 1 (handler re-run: 1, already taken by the engine: 0, dead-lettered: 0); invocations resumed: 0; waiting instances released: 0; ended instances settled: 0',
        detail: {
          nodeId: 'survivor',
          redelivered: 1,
          recorded: 0,
          deadLettered: 0,
          invocations: 0,
          released: 0,
          ended: 0,
        },
      },
    ]);
    expect(h.problems).toEqual([]);
    // The sibling's answer comes later: superseded, its handler never runs.
    expect(
      await h.coordinator.receive({ event: 'rejected', correlationKey, payload: {} }),
    ).toMatchObject({
      status: 'dead-lettered',
      reason: 'superseded',
    });
    expect(runs.map((r) => r.event)).toEqual(['accepted']);
    expect(await h.coordinator.deadLetters.list({ reason: 'interrupted' })).toEqual([]);
    const delivered = (await h.coordinator.auditTrail(id)).filter((e) => e.kind === 'delivered');
    expect(delivered.map((e) => e.detail)).toEqual([
      expect.objectContaining({
        event: 'accepted',
        deliveryId: 'delivery-1',
        redelivered: true,
        interruptedNode: 'dead-node',
      }),
    ]);
  });

  it('the deadline passed while the dead node held the claim: the answer still wins, no spurious timeout (21.3)', async () => {
    const file = temp.file();
    const { id } = await claimedThenDied(file, 'dead-node', {
      expiresInMs: -1,
      deadlineInMs: -5_000,
    });

    const h = await node(file, 'survivor', true);
    await h.atStep(id, 'shipped');
    await h.coordinator.idle();
    expect(await statuses(h)).toEqual({ accepted: 'delivered', rejected: 'superseded' });
    expect(h.coordinator.stats().timedOut).toBe(0);
    expect(kinds(await h.coordinator.auditTrail(id))).not.toContain('timed-out');
    expect((await h.engine.getInstance(id)).history).toEqual([
      'dispatch',
      'await-outcome',
      'shipped',
    ]);
  });

  it('a node restarted under its own id finishes its claims at start, without waiting for them to lapse (21.5, 16.9)', async () => {
    const file = temp.file();
    // The claim would live another 30 s: only knowing it is its own lets the node take it now.
    const { id } = await claimedThenDied(file, 'node-a', { expiresInMs: 30_000 });

    const h = await node(file, 'node-a', true);
    await waitUntil(
      async () => (await statuses(h)).accepted === 'delivered',
      'the restarted node finished its own claim',
      5_000,
    );
    expect(await h.atStep(id, 'shipped')).toMatchObject({
      variables: { outcome: 'shipped by courier' },
    });
    expect(runs).toEqual([{ event: 'accepted', deliveryId: 'delivery-1', redelivered: true }]);
    // A sender retrying the claimed answer is told duplicate, which is now true: it was delivered.
    expect(await h.coordinator.deadLetters.list()).toEqual([]);
  });

  it("another node's live claim is left alone; once that node is dead its claim is finished in seconds (21.4)", async () => {
    const file = temp.file();
    // PostgreSQL: node-live holds its liveness lock on a session of its own store.
    const other = await openStoreAt(file);
    if (other.kind === 'postgres') expect(await other.liveness().join('node-live')).toBe(true);
    const { id } = await claimedThenDied(file, 'node-live', { expiresInMs: 60_000 });

    const h = await node(file, 'node-b', true, 3_000);
    await h.coordinator.idle(); // the recovery at start ran, and left the live claim alone
    expect(await statuses(h)).toEqual({ accepted: 'claimed', rejected: 'superseded' });
    const [claim] = await h.query<{ claimExpiresAt: number | string }>(
      'SELECT "claimExpiresAt" FROM psi_expectation WHERE status = ?',
      ['claimed'],
    );

    // node-live dies: on PostgreSQL its session ends (the lock with it); on SQLite nothing can
    // tell, so its claim lapses.
    if (other.kind === 'postgres') await other.close();
    else {
      await h.query('UPDATE psi_expectation SET "claimExpiresAt" = ? WHERE status = ?', [
        Date.now() - 1,
        'claimed',
      ]);
      await other.close();
    }
    // The next sweep takes it: every second on PostgreSQL, every third of leaseMs on SQLite. On
    // PostgreSQL the claim itself runs for a minute more, so finishing within this wait shows the
    // take-over did not wait for it to lapse (no wall-clock figure asserted).
    const waitMs = 30_000;
    if (other.kind === 'postgres')
      expect(Number(claim.claimExpiresAt)).toBeGreaterThan(Date.now() + waitMs);
    await h.atStep(id, 'shipped', waitMs);
    expect(runs).toEqual([{ event: 'accepted', deliveryId: 'delivery-1', redelivered: true }]);
  });
});
