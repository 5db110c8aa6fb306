import {
  Input,
  OnResponse,
  Output,
  ServiceAdapter,
  TransportTechnicalError,
  UseService,
} from '@psi/core';
import { defineProcess } from '@psi/engines';
import {
  describeEachStore,
  openHarness,
  openStoreAt,
  RecordingService,
  useTempDir,
  waitUntil,
  type Harness,
} from '../correlation/fixtures';
import { portableQuery } from '../foundation/test-stores';

// Issue 21.4: the work a stopped node left is taken over without a cap. Before, a sweep took
// at most 100 invocations and 100 claims, one sweep per third of leaseMs, so a restart on a
// large backlog drained for minutes. Now every page is taken at start (and at every sweep).

const COUNT = 150;

abstract class Warehouse {
  abstract pick(request: { sku: string }): Promise<void>;
}

@ServiceAdapter({ step: 'pick', service: 'warehouse' })
class PickAdapter {
  @Input() sku!: string;
  @Output() picker?: string;
  @UseService(Warehouse) warehouse!: Warehouse;

  async callService(): Promise<void> {
    await this.warehouse.pick({ sku: this.sku });
  }

  @OnResponse('picked', { waitState: 'await-picked' })
  picked(answer: { picker: string }): string {
    this.picker = answer.picker;
    return 'picked';
  }
}

const pickProcess = defineProcess({
  id: 'pick',
  start: 'pick',
  steps: {
    pick: { kind: 'service', next: 'await-picked' },
    'await-picked': { kind: 'wait', transitions: { picked: 'done' } },
    done: { kind: 'end' },
  },
});

describeEachStore('take-over without a cap', () => {
  const temp = useTempDir('psi-take-over-');
  const harnesses: Harness[] = [];
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.close();
  });

  async function node(
    file: string,
    nodeId: string,
    service: RecordingService,
    restore = true,
  ): Promise<Harness> {
    const h = await openHarness({
      file,
      definitions: [pickProcess],
      adapters: [PickAdapter],
      services: { warehouse: service.service },
      registry: {
        warehouse: {
          transport: 'in-process',
          address: 'warehouse',
          retry: {
            maxAttempts: 5,
            initialDelayMs: 3_600_000,
            multiplier: 1,
            maxDelayMs: 3_600_000,
          },
        },
      },
      coordinator: { nodeId, leaseMs: 30_000 },
      restore,
    });
    harnesses.push(h);
    return h;
  }

  it(`a node taking over ${COUNT} running invocations and ${COUNT} claims finishes them all at start`, async () => {
    const file = temp.file();
    // Node A: its service is down, every invocation waits an hour for its retry; a second set
    // of instances waits for answers.
    const down = new RecordingService({
      pick: () => {
        throw new TransportTechnicalError('warehouse offline');
      },
    });
    const a = await node(file, 'node-a', down);
    const stuck = await Promise.all(
      Array.from({ length: COUNT }, (_, i) => a.engine.start('pick', { sku: `S-${i}` })),
    );
    await waitUntil(
      async () => (await a.coordinator.invocations({ status: 'running' })).length === COUNT,
      'every invocation waits for its retry',
      120_000,
    );
    await waitUntil(() => down.calls.length === COUNT, 'every first attempt failed', 120_000);
    harnesses.splice(harnesses.indexOf(a), 1);
    await a.close();

    // Node C: its instances wait for answers; then it "dies" with every answer claimed.
    const up = new RecordingService({ pick: () => undefined });
    const c = await node(file, 'node-c', up);
    const waiting = await Promise.all(
      Array.from({ length: COUNT }, (_, i) => c.engine.start('pick', { sku: `W-${i}` })),
    );
    for (const id of waiting) await c.atStep(id, 'await-picked');
    harnesses.splice(harnesses.indexOf(c), 1);
    await c.close();

    // What a dead node leaves: leases and claims whose expiry passed, retries due now.
    const b0 = await openHarnessStoreOnly(file);
    const now = Date.now();
    await b0.query(`UPDATE psi_outbox SET "nextAttemptAt" = ?`, [now]);
    await b0.query(
      `UPDATE psi_invocation SET "leaseOwner" = 'dead-node', "leaseExpiresAt" = ? WHERE status = 'running'`,
      [now - 1],
    );
    const answered = new Set(waiting);
    const open = (
      await b0.query<{ id: string; instanceId: string; correlationKey: string }>(
        `SELECT id, "instanceId", "correlationKey" FROM psi_expectation WHERE status = 'open'`,
      )
    ).filter((row) => answered.has(row.instanceId));
    expect(open).toHaveLength(COUNT);
    for (const row of open) {
      await b0.query(
        `UPDATE psi_expectation SET status = 'claimed', "claimedBy" = 'dead-node', "claimExpiresAt" = ?, "claimedMessage" = ?, "deliveryId" = ? WHERE id = ?`,
        [
          now - 1,
          JSON.stringify({
            messageId: `answer-${row.id}`,
            sender: 'test',
            event: 'picked',
            correlationKey: row.correlationKey,
            businessKeys: [],
            payload: { picker: 'Ann' },
            payloadText: '{"picker":"Ann"}',
            source: 'test',
            receivedAt: now,
          }),
          `delivery-${row.id}`,
          row.id,
        ],
      );
    }
    await b0.close();

    // Node B starts once (no restore: only the recovery at start may find the work); it takes
    // every page, no second sweep needed.
    const b = await node(file, 'node-b', up, false);
    await b.coordinator.idle();
    const invocations = await b.query<{ status: string; n: number }>(
      'SELECT status, COUNT(*) AS n FROM psi_invocation GROUP BY status ORDER BY status',
    );
    expect(invocations.map((r) => [r.status, Number(r.n)])).toEqual([
      ['completed', COUNT],
      ['waiting', COUNT],
    ]);
    const claims = await b.query<{ status: string; n: number }>(
      'SELECT status, COUNT(*) AS n FROM psi_expectation GROUP BY status ORDER BY status',
    );
    expect(claims.map((r) => [r.status, Number(r.n)])).toEqual([
      ['delivered', COUNT],
      ['open', COUNT],
    ]);
    for (const id of stuck) await b.atStep(id, 'await-picked');
    expect((await b.engine.getInstance(waiting[0])).status).toBe('completed');
    // 300 instances over three nodes: minutes on a machine busy with other suites.
  }, 180_000);
});

/** A bare store on `file` with the harness's query helper (no coordinator, no sweeps). */
async function openHarnessStoreOnly(
  file: string,
): Promise<{ query: Harness['query']; close(): Promise<void> }> {
  const store = await openStoreAt(file);
  return {
    query: (sql, parameters) => portableQuery(store, sql, parameters),
    close: () => store.close(),
  };
}
