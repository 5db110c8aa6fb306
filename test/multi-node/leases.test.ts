import {
  Input,
  OnResponse,
  type DeadLetter,
  Output,
  PsiSignalIds,
  type ResponseContext,
  ServiceAdapter,
  TransportTechnicalError,
  UseService,
} from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsString } from 'class-validator';
import {
  describeEachStore,
  kinds,
  openHarness,
  RecordingService,
  useTempDir,
  waitUntil,
  type Harness,
} from '../correlation/fixtures';

// Work a dead node held is taken over by another node sharing the store, decided by conditional
// updates: a running invocation once its lease lapses, a delivery left `claimed` once its claim
// lapses. The dead node's state is made by hand (a node that stopped renewing), so each case is
// exact; test/multi-node/multi-process.test.ts kills real processes.

// A test holds handlers here to make a delivery take as long as it likes.
let handlerGate: Promise<void> = Promise.resolve();
// A test holds an adapter here, before its request, to make a run take as long as it likes;
// `atGate` tells it the adapter waits there.
let callGate: Promise<void> = Promise.resolve();
let atGate: () => void = () => undefined;
// The delivery id of every handler run, in order.
const handlerRuns: string[] = [];

abstract class Warehouse {
  abstract pick(request: { sku: string }): Promise<void>;
}

@ServiceAdapter({ step: 'pick', service: 'warehouse' })
class PickAdapter {
  @Input() @IsString() sku!: string;
  @Output() picker?: string;
  @UseService(Warehouse) warehouse!: Warehouse;

  async callService(): Promise<void> {
    atGate();
    await callGate;
    await this.warehouse.pick({ sku: this.sku });
  }

  @OnResponse('picked', { waitState: 'await-picked' })
  async picked(answer: { picker: string }, delivery: ResponseContext): Promise<string> {
    handlerRuns.push(delivery.deliveryId);
    await handlerGate;
    this.picker = answer.picker;
    return 'picked';
  }
}

const pickProcess = defineProcess({
  id: 'pick',
  start: 'pick',
  steps: {
    pick: { kind: 'service', next: 'await-picked' },
    'await-picked': { kind: 'wait', transitions: { picked: 'packing' } },
    packing: { kind: 'wait', next: 'done' },
    done: { kind: 'end' },
  },
});

/** Like `pick`, but a recount brings the instance back to the same wait state. */
const pickAgainProcess = defineProcess({
  id: 'pick-again',
  start: 'pick',
  steps: {
    pick: { kind: 'service', next: 'await-picked' },
    'await-picked': { kind: 'wait', transitions: { picked: 'recount', finished: 'done' } },
    recount: { kind: 'wait', next: 'await-picked' },
    done: { kind: 'end' },
  },
});

describeEachStore('leases and claims across nodes', () => {
  const temp = useTempDir('psi-leases-');
  const harnesses: Harness[] = [];
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.close();
  });

  async function node(
    file: string,
    nodeId: string,
    service: RecordingService,
    leaseMs: number,
    restore = false,
  ): Promise<Harness> {
    const h = await openHarness({
      file,
      definitions: [pickProcess, pickAgainProcess],
      adapters: [PickAdapter],
      services: { warehouse: service.service },
      registry: {
        warehouse: {
          transport: 'in-process',
          address: 'warehouse',
          // The first node's attempt fails and waits a minute for its retry.
          retry: { maxAttempts: 5, initialDelayMs: 60_000, multiplier: 1, maxDelayMs: 60_000 },
        },
      },
      coordinator: { nodeId, leaseMs },
      restore,
    });
    harnesses.push(h);
    return h;
  }

  it('a running invocation whose lease lapsed is run by another node, once; a live lease is left alone', async () => {
    const file = temp.file();
    const failing = new RecordingService({
      pick: () => {
        throw new TransportTechnicalError('warehouse offline');
      },
    });
    // Node A renews only every 20 minutes: as far as this test goes, it stopped renewing.
    const a = await node(file, 'node-a', failing, 3_600_000);
    const id = await a.engine.start('pick', { sku: 'SKU-1' });
    await waitUntil(() => a.traces.some((e) => e.kind === 'retried'), 'node A waits to retry');
    const [held] = await a.query<{ leaseOwner: string; leaseExpiresAt: number }>(
      'SELECT "leaseOwner", "leaseExpiresAt" FROM psi_invocation',
    );
    expect(held.leaseOwner).toBe('node-a');
    expect(Number(held.leaseExpiresAt)).toBeGreaterThan(Date.now() + 3_000_000);

    const working = new RecordingService({ pick: () => undefined });
    const b = await node(file, 'node-b', working, 300);
    // B sweeps every 100 ms; A's lease is live, so B leaves the invocation alone.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(working.calls).toHaveLength(0);

    // A died: its lease lapses and its retry falls due. B takes the invocation over and sends
    // the request, once.
    await a.query('UPDATE psi_outbox SET "nextAttemptAt" = ?', [Date.now()]);
    await a.query('UPDATE psi_invocation SET "leaseExpiresAt" = ?', [Date.now() - 1]);
    await b.atStep(id, 'await-picked');
    await b.coordinator.idle(); // the outcome's record commits with that state
    expect(working.calls.map((c) => c.context.requestId)).toEqual([
      failing.calls[0].context.requestId,
    ]);
    const [taken] = await b.query<{ status: string; leaseOwner: string }>(
      'SELECT status, "leaseOwner" FROM psi_invocation',
    );
    expect(taken).toEqual({ status: 'waiting', leaseOwner: 'node-b' });
    expect(kinds(await b.coordinator.auditTrail(id))).toEqual([
      'invoked',
      'retried',
      'sent',
      'completed',
    ]);
    await b.coordinator.idle();
    expect(working.calls).toHaveLength(1);
  });

  it('a node starved before its first request stands down when another node ran the step meanwhile: nothing frozen, nothing sent twice', async () => {
    const file = temp.file();
    const service = new RecordingService({ pick: () => undefined });
    const a = await node(file, 'node-a', service, 3_600_000);
    let letGo = (): void => undefined;
    callGate = new Promise((resolve) => (letGo = resolve));
    const waiting = new Promise<void>((resolve) => (atGate = resolve));
    try {
      const id = await a.engine.start('pick', { sku: 'SKU-9' });
      await waiting; // A runs the adapter; nothing of its run is recorded before its request
      expect(await a.query('SELECT id FROM psi_invocation')).toEqual([]);
      // Meanwhile A was starved: node B, restoring the instance at the step, recorded the
      // invocation of the same entry with its request, and holds the lease.
      const [{ state }] = await a.query<{ state: string }>(
        'SELECT state FROM psi_engine_instance WHERE "instanceId" = ?',
        [id],
      );
      const activationId = (JSON.parse(state) as { at: { activationId: string } }).at.activationId;
      const now = Date.now();
      const runOfB = 'invocation-of-b';
      await a.query(
        `INSERT INTO psi_invocation (id, "instanceId", "activationId", step, adapter, service, "correlationKey", status, "createdAt", "updatedAt", "leaseOwner", "leaseExpiresAt") VALUES (?, ?, ?, 'pick', 'PickAdapter', 'warehouse', 'key-of-b', 'running', ?, ?, 'node-b', ?)`,
        [runOfB, id, activationId, now, now, now + 3_600_000],
      );
      await a.query(
        `INSERT INTO psi_outbox (id, "invocationId", service, operation, payload, "correlationKey", status, attempts, "nextAttemptAt", "createdAt") VALUES (?, ?, 'warehouse', 'pick', ?, 'key-of-b', 'pending', 0, ?, ?)`,
        [`${runOfB}:1`, runOfB, JSON.stringify({ sku: 'SKU-9' }), now, now],
      );
      letGo();
      await a.coordinator.idle();
      // A's first unit found the entry recorded, wrote nothing, and left B's run alone.
      expect(await a.query('SELECT id, status, "leaseOwner" FROM psi_invocation')).toEqual([
        { id: runOfB, status: 'running', leaseOwner: 'node-b' },
      ]);
      expect(await a.query('SELECT id FROM psi_outbox')).toEqual([{ id: `${runOfB}:1` }]);
      expect(await a.query('SELECT id FROM psi_expectation')).toEqual([]);
      expect(kinds(await a.coordinator.auditTrail(id))).toEqual([]);
      expect(service.calls).toHaveLength(0);
    } finally {
      letGo();
      callGate = Promise.resolve();
      atGate = () => undefined;
    }
  });

  it('a node starved after its request, whose invocation another node took over and finished meanwhile, neither records the outcome nor moves the instance', async () => {
    const file = temp.file();
    let answerA = (): void => undefined;
    const slow = new RecordingService({
      pick: () => new Promise<void>((resolve) => (answerA = resolve)),
    });
    const a = await node(file, 'node-a', slow, 3_600_000);
    const id = await a.engine.start('pick', { sku: 'SKU-7' });
    await waitUntil(() => slow.calls.length === 1, 'node A sent its request');
    // A stalls past its lease: B takes the invocation over and runs it to the wait state.
    await a.query('UPDATE psi_invocation SET "leaseExpiresAt" = ?', [Date.now() - 1]);
    const quick = new RecordingService({ pick: () => undefined });
    const b = await node(file, 'node-b', quick, 300);
    await b.atStep(id, 'await-picked');
    await b.coordinator.idle();
    const stateOf = (): Promise<unknown[]> =>
      a.query('SELECT state, "updatedAt" FROM psi_engine_instance WHERE "instanceId" = ?', [id]);
    const movedByB = await stateOf();

    // A's call returns at last. Its outcome's unit finds the invocation B's: it rolls back, and
    // the engine's move A made with it is discarded (written, it would overwrite B's, and the
    // delivery after it, were there one).
    answerA();
    await a.coordinator.idle();
    expect(await stateOf()).toEqual(movedByB);
    expect(await a.query('SELECT status, "leaseOwner" FROM psi_invocation')).toEqual([
      { status: 'waiting', leaseOwner: 'node-b' },
    ]);
    // One outcome, B's; A's request did go out (its `sent` comes last), as B's did again under
    // the same request id (the receiver dedupes).
    expect(kinds(await b.coordinator.auditTrail(id))).toEqual([
      'invoked',
      'sent',
      'completed',
      'sent',
    ]);
    expect(quick.calls.map((c) => c.context.requestId)).toEqual(
      slow.calls.map((c) => c.context.requestId),
    );
  });

  /** An instance waiting at "await-picked" whose answer a dead node claimed. */
  async function claimedByDeadNode(
    h: Harness,
    sku: string,
  ): Promise<{ id: string; expectationId: string }> {
    const id = await h.engine.start('pick', { sku });
    await h.atStep(id, 'await-picked');
    const [expectation] = await h.query<{ id: string; correlationKey: string }>(
      'SELECT id, "correlationKey" FROM psi_expectation WHERE "instanceId" = ?',
      [id],
    );
    await lapsedClaim(h, expectation.id, claimedAnswer(sku, 'Ann', expectation.correlationKey));
    return { id, expectationId: expectation.id };
  }

  /** The answer for `sku`, as a claim stores it. */
  function claimedAnswer(sku: string, picker: string, correlationKey: string): object {
    return {
      messageId: `answer-${sku}`,
      event: 'picked',
      correlationKey,
      businessKeys: [],
      payload: { picker },
      payloadText: JSON.stringify({ picker }),
      source: 'test',
      receivedAt: Date.now(),
    };
  }

  /** Waits for the lapsed claim to be settled as a dead letter; returns it and the expectation. */
  async function settledAsDeadLetter(
    h: Harness,
    reason: 'late',
  ): Promise<{ letter: DeadLetter; expectation: { status: string; claimedBy: string | null } }> {
    const [letter] = await waitUntil(async () => {
      const letters = await h.coordinator.deadLetters.list({ reason });
      return letters.length > 0 ? letters : undefined;
    }, 'the lapsed claim is settled');
    const [expectation] = await h.query<{ status: string; claimedBy: string | null }>(
      'SELECT status, "claimedBy" FROM psi_expectation',
    );
    return { letter, expectation };
  }

  /** A node whose instance of `process` waits for the answer to its pick of `sku`. */
  async function waitingForPick(
    process: 'pick' | 'pick-again',
    sku: string,
  ): Promise<{ h: Harness; id: string; expectationId: string }> {
    const h = await node(
      temp.file(),
      'node-b',
      new RecordingService({ pick: () => undefined }),
      300,
    );
    const id = await h.engine.start(process, { sku });
    await h.atStep(id, 'await-picked');
    const [expectation] = await h.query<{ id: string }>('SELECT id FROM psi_expectation');
    return { h, id, expectationId: expectation.id };
  }

  /** Leaves the expectation as a node that claimed it and died leaves it: the claim lapsed. */
  async function lapsedClaim(
    h: Harness,
    expectationId: string,
    message: object | null,
  ): Promise<void> {
    await h.query(
      `UPDATE psi_expectation SET status = 'claimed', "claimedBy" = 'dead-node', "claimExpiresAt" = ?, "claimedMessage" = ?, "deliveryId" = ? WHERE id = ?`,
      [
        Date.now() - 1,
        message && JSON.stringify(message),
        `delivery-of-${expectationId}`,
        expectationId,
      ],
    );
  }

  /** Waits for the lapsed claim to be settled as delivered: no dead letter, the audit says so. */
  async function settledAsDelivered(
    h: Harness,
    instanceId: string,
    expectationId: string,
    messageId?: string,
  ): Promise<void> {
    await waitUntil(async () => {
      const [row] = await h.query<{ status: string }>('SELECT status FROM psi_expectation');
      return row.status === 'delivered';
    }, 'the lapsed claim is recorded as delivered');
    await h.coordinator.idle();
    expect(await h.coordinator.deadLetters.list()).toEqual([]);
    const delivered = (await h.coordinator.auditTrail(instanceId)).filter(
      (e) => e.kind === 'delivered',
    );
    expect(delivered.map((e) => e.detail)).toEqual([
      {
        event: 'picked',
        waitState: 'await-picked',
        recovered: true,
        interruptedNode: 'dead-node',
        ...(messageId ? { messageId } : {}),
        deliveryId: `delivery-of-${expectationId}`,
      },
    ]);
  }

  it("a claim lapsed with the instance still at the wait state: recovery finishes the delivery (handler re-run with the claim's delivery id), nothing is dead-lettered", async () => {
    const h = await node(
      temp.file(),
      'node-b',
      new RecordingService({ pick: () => undefined }),
      300,
    );
    const { id, expectationId } = await claimedByDeadNode(h, 'SKU-2');

    expect(await h.atStep(id, 'packing')).toMatchObject({ variables: { picker: 'Ann' } });
    await h.coordinator.idle();
    const [expectation] = await h.query<{ status: string; claimedBy: string | null }>(
      'SELECT status, "claimedBy" FROM psi_expectation',
    );
    expect(expectation).toEqual({ status: 'delivered', claimedBy: null });
    expect(await h.coordinator.deadLetters.list()).toEqual([]);
    const delivered = (await h.coordinator.auditTrail(id)).filter((e) => e.kind === 'delivered');
    expect(delivered.map((e) => e.detail)).toEqual([
      {
        event: 'picked',
        waitState: 'await-picked',
        transition: 'picked',
        variables: { picker: 'Ann' },
        messageId: 'answer-SKU-2',
        deliveryId: `delivery-of-${expectationId}`,
        redelivered: true,
        interruptedNode: 'dead-node',
      },
    ]);
  });

  it('a claim lapsed after the engine was signalled: recorded as delivered, nothing dead-lettered, handler not re-run', async () => {
    const { h, id, expectationId } = await waitingForPick('pick', 'SKU-3');
    // The dead node had run the handler and signalled the engine, then died before its last commit.
    await h.engine.signal(id, 'await-picked', {
      transition: 'picked',
      variables: { picker: 'Bo' },
      signalId: PsiSignalIds.answer(expectationId),
    });
    await lapsedClaim(h, expectationId, null);

    await settledAsDelivered(h, id, expectationId);
    const [invocation] = await h.coordinator.invocations({ instanceId: id });
    expect(invocation.status).toBe('completed');
    expect((await h.engine.getInstance(id)).variables.picker).toBe('Bo');
  });

  it('a claim lapsed after the engine took the answer, the instance back at the wait state since: recorded as delivered, not interrupted', async () => {
    const { h, id, expectationId } = await waitingForPick('pick-again', 'SKU-6');
    // The dead node signalled the answer under the id PSI gives it, then died before its last
    // commit; a recount has brought the instance back to the wait state since.
    await h.engine.signal(id, 'await-picked', {
      transition: 'picked',
      variables: { picker: 'Cy' },
      signalId: PsiSignalIds.answer(expectationId),
    });
    await h.engine.signal(id, 'recount');
    await h.atStep(id, 'await-picked');
    await lapsedClaim(h, expectationId, { messageId: 'answer-SKU-6', event: 'picked' });

    await settledAsDelivered(h, id, expectationId, 'answer-SKU-6');
    const snapshot = await h.engine.getInstance(id);
    expect(snapshot.waitStates).toEqual(['await-picked']);
    expect(snapshot.history).toEqual(['pick', 'await-picked', 'recount', 'await-picked']);
    expect(snapshot.variables.picker).toBe('Cy');
  });

  it('a claim lapsed, the instance moved on without the answer since: the answer becomes a `late` dead letter, the expectation is cancelled', async () => {
    const { h, id, expectationId } = await waitingForPick('pick', 'SKU-7');
    // The dead node claimed the answer and died before signalling; meanwhile a signal from
    // outside PSI moved the instance on.
    await h.engine.signal(id, 'await-picked', {
      transition: 'picked',
      variables: { picker: 'Outside' },
    });
    await lapsedClaim(h, expectationId, claimedAnswer('SKU-7', 'Dee', 'k-7'));

    const { letter, expectation } = await settledAsDeadLetter(h, 'late');
    expect(letter).toMatchObject({
      messageId: 'answer-SKU-7',
      instanceId: id,
      expectationId,
      payload: { picker: 'Dee' },
      detail: {
        interruptedNode: 'dead-node',
        waitState: 'await-picked',
        deliveryId: `delivery-of-${expectationId}`,
      },
    });
    expect(expectation).toEqual({ status: 'cancelled', claimedBy: null });
    const [invocation] = await h.coordinator.invocations({ instanceId: id });
    expect(invocation.status).toBe('completed');
    const trail = await h.coordinator.auditTrail(id);
    expect(trail.filter((e) => e.kind === 'delivered')).toEqual([]);
    expect((await h.engine.getInstance(id)).variables.picker).toBe('Outside');
  });

  it('a step whose outcome was recorded but not signalled (its node died in between) is signalled once the engine reports it again', async () => {
    const file = temp.file();
    const service = new RecordingService({ pick: () => undefined });
    const a = await node(file, 'node-a', service, 300);
    // Node A records the step's outcome, then dies before the engine takes the signal.
    jest.spyOn(a.engine, 'signal').mockRejectedValueOnce(new Error('node A died'));
    const id = await a.engine.start('pick', { sku: 'SKU-4' });
    const [invocation] = await waitUntil(async () => {
      const found = await a.coordinator.invocations({ instanceId: id, status: 'waiting' });
      return found.length > 0 ? found : undefined;
    }, 'the outcome is recorded');
    expect((await a.engine.getInstance(id)).currentStep).toBe('pick');

    // Another node starts; its engine restores the instance and reports it at "pick" again.
    const b = await node(file, 'node-b', service, 300, true);
    await b.atStep(id, 'await-picked');
    expect(service.calls).toHaveLength(1); // the adapter did not run again
    expect((await b.coordinator.invocation(invocation.id)).status).toBe('waiting');
    expect(kinds(await b.coordinator.auditTrail(id))).toEqual(['invoked', 'sent', 'completed']);
  });

  it('a delivery that outlives its claim (its node stalled, it did not die) is finished once: another node re-runs the handler with the same delivery id, the engine takes the answer once, nothing is dead-lettered', async () => {
    const file = temp.file();
    const service = new RecordingService({ pick: () => undefined });
    // B renews every 20 minutes (a stalled node, as far as this test goes); C takes lapsed claims.
    const b = await node(file, 'node-b', service, 3_600_000);
    const id = await b.engine.start('pick', { sku: 'SKU-5' });
    await b.atStep(id, 'await-picked');
    let openGate!: () => void;
    handlerGate = new Promise((resolve) => (openGate = resolve));
    handlerRuns.length = 0;
    const delivering = service.last().respond('picked', { picker: 'Cy' });
    await waitUntil(async () => {
      const [row] = await b.query<{ status: string }>('SELECT status FROM psi_expectation');
      return row.status === 'claimed';
    }, 'B claimed the answer and runs the handler');

    // B's claim lapses; C takes B for dead and finishes the delivery (its handler run passes,
    // while B's still waits at the gate).
    await b.query('UPDATE psi_expectation SET "claimExpiresAt" = ?', [Date.now() - 1]);
    const gateOfB = handlerGate;
    handlerGate = Promise.resolve();
    const c = await node(file, 'node-c', service, 300);
    expect(await c.atStep(id, 'packing')).toMatchObject({ variables: { picker: 'Cy' } });
    // C records the delivery after the engine took the signal; B is released once it has (while
    // C's record is still open, B answers its sender `duplicate`, equally final).
    await waitUntil(async () => {
      const [row] = await b.query<{ status: string }>('SELECT status FROM psi_expectation');
      return row.status === 'delivered';
    }, 'C recorded the delivery');

    // B was only slow: its handler finishes, the engine has taken the answer's signal already
    // (the repeat changes nothing), and B's record finds the delivery finished.
    openGate();
    await gateOfB;
    expect(await delivering).toMatchObject({ status: 'delivered', instanceId: id });
    await b.coordinator.idle();
    await c.coordinator.idle();
    const [row] = await b.query<{ status: string; claimedBy: string | null; deliveryId: string }>(
      'SELECT status, "claimedBy", "deliveryId" FROM psi_expectation',
    );
    expect(row).toMatchObject({ status: 'delivered', claimedBy: null });
    // At least once: both runs had the same delivery id.
    expect(handlerRuns).toEqual([row.deliveryId, row.deliveryId]);
    expect((await b.engine.getInstance(id)).history).toEqual(['pick', 'await-picked', 'packing']);
    expect(await b.coordinator.deadLetters.list()).toEqual([]);
    expect((await b.coordinator.auditTrail(id)).filter((e) => e.kind === 'delivered')).toHaveLength(
      1,
    );
  });
});
