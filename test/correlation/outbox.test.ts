import {
  Input,
  OnResponse,
  Output,
  ServiceAdapter,
  TransportTechnicalError,
  UseService,
  type PsiStore,
} from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsString } from 'class-validator';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  useTempDir,
  waitUntil,
  type Harness,
} from './fixtures';

// Semantic 10: transactional outbox. The request and the expectations commit together, before
// anything is sent; a re-run of an invocation (thaw, or recovery by a new coordinator) replays
// requests already sent (with their stored reply) instead of sending them again.

abstract class Warehouse {
  abstract reserve(request: { sku: string }): Promise<{ slot: string }>;
  abstract confirm(request: { slot: string }): Promise<void>;
}

@ServiceAdapter({ step: 'ship', service: 'warehouse' })
class ShipAdapter {
  @Input() @IsString() sku!: string;
  @Output() slot?: string;
  @Output() picker?: string;
  @UseService(Warehouse) warehouse!: Warehouse;

  async callService(): Promise<void> {
    const { slot } = await this.warehouse.reserve({ sku: this.sku });
    this.slot = slot;
    await this.warehouse.confirm({ slot });
  }

  @OnResponse('picked', { waitState: 'await-picked' })
  picked(answer: { picker: string }): void {
    this.picker = answer.picker;
  }
}

const shipProcess = defineProcess({
  id: 'ship',
  start: 'ship',
  steps: {
    ship: { kind: 'service', next: 'await-picked' },
    'await-picked': { kind: 'wait', next: 'done' },
    done: { kind: 'end' },
  },
});

interface StoreView {
  outbox: Array<{ id: string; operation: string; status: string; correlationKey: string }>;
  expectations: Array<{ event: string; status: string; correlationKey: string }>;
}

describeEachStore('transactional outbox', () => {
  const temp = useTempDir();
  const harnesses: Harness[] = [];
  let store: PsiStore | undefined;
  let seen: Record<string, StoreView[]>;
  let confirmFailures: number;
  let warehouse: RecordingService;
  let slots: number;

  /** What a service sees in the store at the moment it is called. */
  async function look(): Promise<StoreView> {
    return store!.transaction(async (tx) => ({
      outbox: await tx.query(
        'SELECT id, operation, status, "correlationKey" FROM psi_outbox ORDER BY "createdAt", id',
      ),
      expectations: await tx.query('SELECT event, status, "correlationKey" FROM psi_expectation'),
    }));
  }

  async function open(
    file: string,
    retry: Record<string, number>,
    restore = false,
  ): Promise<Harness> {
    warehouse = new RecordingService({
      reserve: async () => {
        (seen.reserve ??= []).push(await look());
        return { slot: `SLOT-${++slots}` };
      },
      confirm: async () => {
        (seen.confirm ??= []).push(await look());
        if (confirmFailures > 0) {
          confirmFailures--;
          throw new TransportTechnicalError('warehouse busy');
        }
        return undefined;
      },
    });
    const h = await openHarness({
      file,
      definitions: [shipProcess],
      adapters: [ShipAdapter],
      services: { warehouse: warehouse.service },
      registry: { warehouse: { transport: 'in-process', address: 'warehouse', retry } },
      restore,
    });
    store = h.store;
    harnesses.push(h);
    return h;
  }
  beforeEach(() => {
    seen = {};
    confirmFailures = 0;
    slots = 0;
  });
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.close();
  });
  const fast = { maxAttempts: 2, initialDelayMs: 1, multiplier: 1, maxDelayMs: 1 };

  it('commits the request and its expectations together, before the service is called', async () => {
    const h = await open(temp.file(), fast);
    const id = await h.engine.start('ship', { sku: 'SKU-1' });
    await h.atStep(id, 'await-picked');
    const [invocation] = await h.coordinator.invocations({ instanceId: id });
    const key = invocation.correlationKey;

    // At the first send, the request and the expectation are already committed.
    expect(seen.reserve).toEqual([
      {
        outbox: [
          {
            id: `${invocation.id}:1`,
            operation: 'reserve',
            status: 'pending',
            correlationKey: key,
          },
        ],
        expectations: [{ event: 'picked', status: 'open', correlationKey: key }],
      },
    ]);
    // The second request commits on its own; the expectations are recorded once.
    expect(seen.confirm).toEqual([
      {
        outbox: [
          { id: `${invocation.id}:1`, operation: 'reserve', status: 'sent', correlationKey: key },
          {
            id: `${invocation.id}:2`,
            operation: 'confirm',
            status: 'pending',
            correlationKey: key,
          },
        ],
        expectations: [{ event: 'picked', status: 'open', correlationKey: key }],
      },
    ]);
    expect(warehouse.calls.map((c) => c.context.requestId)).toEqual([
      `${invocation.id}:1`,
      `${invocation.id}:2`,
    ]);

    await warehouse.last().respond('picked', { picker: 'Ann' });
    expect(await h.engine.whenEnded(id)).toMatchObject({
      status: 'completed',
      variables: { slot: 'SLOT-1', picker: 'Ann' },
    });
    const rows = await h.query<{ status: string; reply: string | null; sentAt: number | null }>(
      'SELECT status, reply, "sentAt" FROM psi_outbox ORDER BY id',
    );
    expect(rows.map((r) => [r.status, r.reply])).toEqual([
      ['sent', JSON.stringify({ slot: 'SLOT-1' })],
      ['sent', null],
    ]);
    expect(rows.every((r) => r.sentAt !== null)).toBe(true);
  });

  it('a thawed invocation replays the sent request (and its reply) and sends only what was not sent', async () => {
    confirmFailures = 2;
    const h = await open(temp.file(), fast);
    const id = await h.engine.start('ship', { sku: 'SKU-2' });
    const [frozen] = await waitUntil(async () => {
      const found = await h.coordinator.invocations({ status: 'frozen' });
      return found.length > 0 ? found : undefined;
    }, 'the invocation froze on confirm');
    expect(warehouse.calls.map((c) => c.operation)).toEqual(['reserve', 'confirm', 'confirm']);

    await h.coordinator.thaw(frozen.id);
    await h.atStep(id, 'await-picked');

    // reserve was not sent again: its stored reply fed the re-run (same slot).
    expect(warehouse.calls.map((c) => c.operation)).toEqual([
      'reserve',
      'confirm',
      'confirm',
      'confirm',
    ]);
    expect(warehouse.calls.at(-1)!.payload).toEqual({ slot: 'SLOT-1' });
    expect(
      new Set(
        warehouse.calls.filter((c) => c.operation === 'confirm').map((c) => c.context.requestId),
      ),
    ).toEqual(new Set([`${frozen.id}:2`]));
    expect(await h.query('SELECT id, status FROM psi_outbox ORDER BY id')).toEqual([
      { id: `${frozen.id}:1`, status: 'sent' },
      { id: `${frozen.id}:2`, status: 'sent' },
    ]);
    expect(await h.query('SELECT event FROM psi_expectation')).toEqual([{ event: 'picked' }]);
    await warehouse.last().respond('picked', { picker: 'Bo' });
    expect(await h.engine.whenEnded(id)).toMatchObject({
      status: 'completed',
      variables: { slot: 'SLOT-1', picker: 'Bo' },
    });
  });

  it('a new coordinator recovers a running invocation: sent requests are replayed, not resent', async () => {
    confirmFailures = 1;
    const file = temp.file();
    // Closed while confirm waits for its backoff; the next coordinator sends it when that ends.
    const first = await open(file, {
      maxAttempts: 3,
      initialDelayMs: 2_500,
      multiplier: 1,
      maxDelayMs: 2_500,
    });
    const id = await first.engine.start('ship', { sku: 'SKU-3' });
    await waitUntil(
      () => first.traces.some((e) => e.kind === 'retried'),
      'confirm waits for its retry',
    );
    expect(warehouse.calls.map((c) => c.operation)).toEqual(['reserve', 'confirm']);
    harnesses.splice(harnesses.indexOf(first), 1);
    await first.close();

    const second = await open(file, fast, true);
    await second.atStep(id, 'await-picked');
    // The new process sent only the confirm (the reserve was replayed from the outbox).
    expect(warehouse.calls.map((c) => [c.operation, c.payload])).toEqual([
      ['confirm', { slot: 'SLOT-1' }],
    ]);
    await warehouse.last().respond('picked', { picker: 'Cy' });
    expect(await second.engine.whenEnded(id)).toMatchObject({
      status: 'completed',
      variables: { slot: 'SLOT-1', picker: 'Cy' },
    });
    expect((await second.coordinator.invocations({ instanceId: id }))[0].status).toBe('completed');
  });
});
