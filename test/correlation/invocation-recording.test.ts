import { OnResponse, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  useTempDir,
  type Harness,
} from './fixtures';

// Issue 17, item 3: a service step entered live is run at once and its invocation row commits
// with the run's first unit (its first request and expectations), not in a transaction of its
// own before the adapter runs. The unique activation still decides between two runs of one
// entry: a run that finds the row taken writes nothing and that row decides.

abstract class Supplier {
  abstract order(request: { n: number }): Promise<void>;
}

let adapterRuns = 0;

@ServiceAdapter({ step: 'order', service: 'supplier' })
class OrderAdapter {
  @UseService(Supplier) supplier!: Supplier;

  async callService(): Promise<void> {
    adapterRuns++;
    await this.supplier.order({ n: adapterRuns });
  }

  @OnResponse('confirmed', { waitState: 'await-confirmation' })
  confirmed(): string {
    return 'confirmed';
  }
}

const orderProcess = defineProcess({
  id: 'order',
  start: 'order',
  steps: {
    order: { kind: 'service', next: 'await-confirmation' },
    'await-confirmation': { kind: 'wait', transitions: { confirmed: 'done' } },
    done: { kind: 'end' },
  },
});

describeEachStore('recording an invocation', () => {
  const temp = useTempDir('psi-invocation-recording-');
  let h: Harness;
  let supplier: RecordingService;
  beforeEach(async () => {
    adapterRuns = 0;
    supplier = new RecordingService({ order: undefined });
    h = await openHarness({
      file: temp.file(),
      definitions: [orderProcess],
      adapters: [OrderAdapter],
      services: { supplier: supplier.service },
      registry: { supplier: { transport: 'in-process', address: 'supplier' } },
    });
  });
  afterEach(() => h.close());

  /** An instance at its wait state, its invocation waiting for the answer. */
  async function waiting(): Promise<{ id: string; activationId: string; invocationId: string }> {
    const id = await h.engine.start('order', {});
    await h.atStep(id, 'await-confirmation');
    await h.coordinator.idle();
    const [row] = await h.query<{ id: string; activationId: string; status: string }>(
      'SELECT id, "activationId", status FROM psi_invocation WHERE "instanceId" = ?',
      [id],
    );
    expect(row.status).toBe('waiting');
    return { id, activationId: row.activationId, invocationId: row.id };
  }

  it("commits a live entry's invocation with its first request and expectations", async () => {
    const { invocationId } = await waiting();
    expect(supplier.calls).toHaveLength(1);
    const trail = (
      await h.coordinator.auditTrail(
        (await h.query<{ instanceId: string }>('SELECT "instanceId" FROM psi_invocation'))[0]
          .instanceId,
      )
    ).map((e) => e.kind);
    expect(trail.filter((k) => k === 'invoked')).toHaveLength(1);
    if (h.store.kind === 'postgres') {
      const txOf = async (sql: string): Promise<string> =>
        ((await h.store.dataSource.query(sql, [invocationId])) as Array<{ tx: string }>)[0].tx;
      // Rows updated since (the invocation waiting, the request sent) have a newer xmin; the
      // "invoked" entry and the expectation keep the transaction that inserted them.
      const invoked = await txOf(
        `SELECT xmin::text AS tx FROM psi_audit WHERE "invocationId" = $1 AND kind = 'invoked'`,
      );
      const expectation = await txOf(
        'SELECT xmin::text AS tx FROM psi_expectation WHERE "invocationId" = $1',
      );
      expect(expectation).toBe(invoked);
    }
  });

  it('a live entry already recorded: the run writes nothing and the recorded invocation decides', async () => {
    const { id, activationId, invocationId } = await waiting();
    // An engine raising the entry again without saying it resumed it: the adapter runs up to
    // its first call, finds the activation taken, and stands down.
    const again = await h.coordinator.invoke({ instanceId: id, step: 'order', activationId });
    expect(again).toEqual({ invocationId, status: 'waiting' });
    expect(adapterRuns).toBe(2);
    expect(supplier.calls).toHaveLength(1); // no second request went out
    expect(await h.query('SELECT id FROM psi_invocation')).toHaveLength(1);
    expect(await h.query('SELECT id FROM psi_outbox')).toHaveLength(1);
    expect(await h.query('SELECT id FROM psi_expectation')).toHaveLength(1);

    // Said to be resumed: looked up first, the adapter does not run.
    const resumed = await h.coordinator.invoke({
      instanceId: id,
      step: 'order',
      activationId,
      resumed: true,
    });
    expect(resumed).toEqual({ invocationId, status: 'waiting' });
    expect(adapterRuns).toBe(2);

    // The instance goes on with its one invocation.
    await h.coordinator.receive({
      event: 'confirmed',
      correlationKey: supplier.last().correlationKey,
      messageId: 'c-1',
      payload: {},
    });
    expect((await h.engine.whenEnded(id)).status).toBe('completed');
    await h.coordinator.idle();
    expect(h.problems).toEqual([]);
  });
});
