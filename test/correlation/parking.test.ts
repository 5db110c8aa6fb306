import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsString } from 'class-validator';
import {
  definingStoreKind,
  describeEachStore,
  kinds,
  openHarness,
  RecordingService,
  useTempDir,
  waitUntil,
  type Harness,
} from './fixtures';
import { openTestStore } from '../foundation/test-stores';

// Semantic 2: parking. An answer whose instance is not yet at the wait state is parked and
// delivered, in arrival order, on readiness; an answer with no expectation yet is parked and
// claimed when the expectation is recorded; a parked answer expires (TTL from the registry)
// into an `expired` dead letter.

abstract class Collector {
  abstract open(request: { batch: string }): Promise<void>;
}

class Item {
  @IsString() name!: string;
}

/** Collects two items; each delivery appends to `received` and loops back until both are in. */
@ServiceAdapter({ step: 'open-batch', service: 'collector' })
class CollectAdapter {
  @Input() @IsString() batch!: string;
  @Input() received?: string[];
  @Output('received') out?: string[];
  @UseService(Collector) collector!: Collector;

  async callService(): Promise<void> {
    await this.collector.open({ batch: this.batch });
  }

  private append(name: string): string {
    this.out = [...(this.received ?? []), name];
    return this.out.length >= 2 ? 'complete' : 'more';
  }

  @OnResponse('item-a', { waitState: 'collect', payload: Item })
  a(item: Item): string {
    return this.append(item.name);
  }

  @OnResponse('item-b', { waitState: 'collect', payload: Item })
  b(item: Item): string {
    return this.append(item.name);
  }
}

abstract class Registrar {
  abstract register(request: { ticket: string }): Promise<void>;
}

class Registration {
  @IsString() ticket!: string;
  @IsString() status!: string;
}

@ServiceAdapter({ step: 'register', service: 'registrar' })
class RegisterAdapter {
  @Input() @IsString() ticket!: string;
  @Output() status?: string;
  @UseService(Registrar) registrar!: Registrar;

  async callService(): Promise<void> {
    await this.registrar.register({ ticket: this.ticket });
  }

  @OnResponse('registered', {
    waitState: 'await-registration',
    payload: Registration,
    businessKey: { ticket: 'ticket' },
  })
  registered(answer: Registration): string {
    this.status = answer.status;
    return 'done';
  }
}

const collectProcess = defineProcess({
  id: 'collect',
  start: 'open-batch',
  steps: {
    'open-batch': { kind: 'service', next: 'prepare' },
    // A manual step: answers arriving while the instance is here must be parked.
    prepare: { kind: 'wait', transitions: { ready: 'collect' } },
    collect: { kind: 'wait', transitions: { more: 'collect', complete: 'done' } },
    done: { kind: 'end' },
  },
});

const registerProcess = defineProcess({
  id: 'register',
  start: 'register',
  steps: {
    register: { kind: 'service', next: 'await-registration' },
    'await-registration': { kind: 'wait', transitions: { done: 'done' } },
    done: { kind: 'end' },
  },
});

describeEachStore('parking', () => {
  const temp = useTempDir();
  let h: Harness;
  let collector: RecordingService;
  let registrar: RecordingService;

  async function open(parkingTtlMs?: number): Promise<void> {
    collector = new RecordingService({ open: undefined });
    registrar = new RecordingService({ register: undefined });
    h = await openHarness({
      file: temp.file(),
      definitions: [collectProcess, registerProcess],
      adapters: [CollectAdapter, RegisterAdapter],
      services: { collector: collector.service, registrar: registrar.service },
      registry: {
        collector: { transport: 'in-process', address: 'collector', parkingTtlMs },
        registrar: { transport: 'in-process', address: 'registrar', parkingTtlMs },
      },
    });
  }
  afterEach(() => h.close());

  it('parks answers that arrive before the wait state and delivers them on readiness in arrival order', async () => {
    await open();
    const id = await h.engine.start('collect', { batch: 'B-1' });
    await h.atStep(id, 'prepare');
    const context = collector.last('open');

    // b arrives before a; both are parked because the instance is still at "prepare".
    const first = await context.respond('item-b', { name: 'b' });
    const second = await context.respond('item-a', { name: 'a' });
    expect(first).toMatchObject({ status: 'parked', instanceId: id });
    expect(second).toMatchObject({ status: 'parked', instanceId: id });
    const parked = await h.query<{ event: string; expectationId: string | null }>(
      'SELECT event, "expectationId" FROM psi_parked_message ORDER BY seq',
    );
    expect(parked.map((p) => p.event)).toEqual(['item-b', 'item-a']);
    expect(parked.every((p) => p.expectationId !== null)).toBe(true);

    await h.engine.signal(id, 'prepare', { transition: 'ready' });

    const final = await h.engine.whenEnded(id);
    expect(final.status).toBe('completed');
    expect(final.variables.received).toEqual(['b', 'a']);
    expect(final.history).toEqual(['open-batch', 'prepare', 'collect', 'collect', 'done']);
    await h.coordinator.idle();
    expect(await h.query('SELECT * FROM psi_parked_message')).toEqual([]);
    const trail = (await h.coordinator.auditTrail(id)).filter((e) =>
      ['parked', 'released', 'delivered'].includes(e.kind),
    );
    expect(trail.map((e) => `${e.kind}:${String(e.detail?.event)}`)).toEqual([
      'parked:item-b',
      'parked:item-a',
      'released:item-b',
      'delivered:item-b',
      'released:item-a',
      'delivered:item-a',
    ]);
    expect(await h.coordinator.deadLetters.list()).toEqual([]);
    expect((await h.coordinator.invocations({ instanceId: id }))[0].status).toBe('completed');
  });

  it('parks an answer for which no expectation exists yet, and delivers it once the expectation is recorded and the instance is ready', async () => {
    await open();
    const outcome = await h.coordinator.receive({
      event: 'registered',
      businessKey: { ticket: 'T-42' },
      payload: { ticket: 'T-42', status: 'approved' },
    });
    expect(outcome).toEqual({
      status: 'parked',
      parkedId: expect.any(String),
      instanceId: undefined,
    });
    const before = await h.query<{ expectationId: string | null; instanceId: string | null }>(
      'SELECT "expectationId", "instanceId" FROM psi_parked_message',
    );
    expect(before).toEqual([{ expectationId: null, instanceId: null }]);

    const id = await h.engine.start('register', { ticket: 'T-42' });

    const final = await h.engine.whenEnded(id);
    expect(final.status).toBe('completed');
    expect(final.variables.status).toBe('approved');
    await h.coordinator.idle();
    expect(await h.query('SELECT * FROM psi_parked_message')).toEqual([]);
    const [expectation] = await h.query<{ status: string }>('SELECT status FROM psi_expectation');
    expect(expectation.status).toBe('delivered');
    expect(kinds(await h.coordinator.auditTrail(id))).toEqual(
      expect.arrayContaining(['invoked', 'sent', 'completed', 'released', 'delivered']),
    );
    expect(registrar.calls).toHaveLength(1);
    expect(await h.coordinator.deadLetters.list()).toEqual([]);
  });

  it('never strands an early answer that races the recording of its expectation (400 instances)', async () => {
    // Each answer's receive and its instance's start run concurrently: either the receive sees
    // the expectation, or the expectation adopts the parked answer. On PostgreSQL the two run in
    // separate transactions, so neither may miss the other's uncommitted row.
    await open();
    const tickets = Array.from({ length: 400 }, (_, i) => `RACE-${i}`);
    const ids = await Promise.all(
      tickets.map(async (ticket, i) => {
        const answer = async (): Promise<void> => {
          await h.coordinator.receive({
            event: 'registered',
            businessKey: { ticket },
            payload: { ticket, status: 'approved' },
          });
        };
        // The answer comes 0–19 ms after the start returns: most land before the expectation
        // is recorded, some while it is being recorded (the race), some after.
        const at = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
        await at(4 * i);
        const id = await h.engine.start('register', { ticket });
        await at(i % 20).then(answer);
        return id;
      }),
    );

    // Every answer ends delivered: none is left parked without owner (it would expire unread).
    await waitUntil(
      async () => {
        await h.coordinator.idle();
        const [{ n }] = await h.query<{ n: number }>(
          'SELECT COUNT(*) AS n FROM psi_expectation WHERE status = ?',
          ['delivered'],
        );
        const stranded = await h.query(
          'SELECT * FROM psi_parked_message WHERE "expectationId" IS NULL',
        );
        if (stranded.length > 0) throw new Error(`${stranded.length} answers parked without owner`);
        return Number(n) === tickets.length;
      },
      'every expectation is delivered',
      120_000,
    );
    for (const id of ids) expect((await h.engine.whenEnded(id)).variables.status).toBe('approved');
    expect(await h.query('SELECT * FROM psi_parked_message')).toEqual([]);
    expect(await h.coordinator.deadLetters.list()).toEqual([]);
    expect(h.problems).toEqual([]);
    // 400 instances and 400 answers: minutes on a machine busy with other suites, not seconds.
  }, 180_000);

  const onPostgres = definingStoreKind() === 'postgres' ? it : it.skip;

  onPostgres(
    'adopts an answer parked while its expectation is being recorded, at the worst interleaving',
    async () => {
      await open();
      // A third connection holds the parked-message table, so the invoke stops at adopting with its
      // expectation inserted but not committed. The receive then comes: without serialising the
      // two on the answer's key it would miss the uncommitted expectation and park the answer
      // where the (already running) adoption cannot see it.
      // Its own pool: the harness's connections are all needed by the coordinator here.
      const other = await openTestStore(h.file, { migrate: false, poolSize: 1 });
      // A raw connection on purpose: it holds a table lock, which no PSI step does.
      const blocker = other.dataSource.createQueryRunner();
      await blocker.startTransaction();
      const waiters = async (): Promise<number> => {
        const [{ n }] = (await blocker.query(
          `SELECT COUNT(*) AS n FROM pg_locks
          WHERE NOT granted AND (relation = 'psi_parked_message'::regclass OR locktype = 'advisory')`,
        )) as Array<{ n: string }>;
        return Number(n);
      };
      try {
        await blocker.query('LOCK TABLE psi_parked_message IN EXCLUSIVE MODE');
        const id = await h.engine.start('register', { ticket: 'T-7' });
        await waitUntil(async () => (await waiters()) >= 1, 'the invoke waits to adopt');
        const receiving = h.coordinator.receive({
          event: 'registered',
          businessKey: { ticket: 'T-7' },
          payload: { ticket: 'T-7', status: 'approved' },
        });
        await waitUntil(async () => (await waiters()) >= 2, 'the receive waits too');
        await blocker.commitTransaction();
        await receiving;
        await h.coordinator.idle();

        expect(await h.query('SELECT "expectationId" FROM psi_parked_message')).toEqual([]);
        const final = await h.engine.whenEnded(id);
        expect(final.variables.status).toBe('approved');
        expect(await h.coordinator.deadLetters.list()).toEqual([]);
      } finally {
        if (blocker.isTransactionActive) await blocker.rollbackTransaction();
        await blocker.release();
        await other.close();
      }
    },
  );

  it('turns parked answers into `expired` dead letters when the registry TTL passes', async () => {
    await open(40);
    // One answer with no expectation at all, one whose instance never becomes ready.
    const orphan = await h.coordinator.receive({
      event: 'registered',
      businessKey: { ticket: 'nobody' },
      payload: { ticket: 'nobody', status: 'approved' },
    });
    const id = await h.engine.start('collect', { batch: 'B-2' });
    await h.atStep(id, 'prepare');
    const early = await collector.last('open').respond('item-a', { name: 'a' });
    expect(orphan.status).toBe('parked');
    expect(early).toMatchObject({ status: 'parked', instanceId: id });

    const letters = await waitUntil(async () => {
      const found = await h.coordinator.deadLetters.list({ reason: 'expired' });
      return found.length === 2 ? found : undefined;
    }, 'both parked answers expired');

    const byEvent = Object.fromEntries(letters.map((l) => [l.event, l]));
    expect(byEvent.registered).toMatchObject({
      reason: 'expired',
      status: 'open',
      instanceId: undefined,
    });
    expect(byEvent['item-a']).toMatchObject({
      reason: 'expired',
      instanceId: id,
      payload: { name: 'a' },
    });
    const detail = byEvent['item-a'].detail as { parkedAt: number; expiresAt: number };
    expect(detail.expiresAt - detail.parkedAt).toBe(40);
    expect(await h.query('SELECT * FROM psi_parked_message')).toEqual([]);
    expect(kinds(await h.coordinator.auditTrail(id))).toContain('dead-lettered');

    // The expired answer is not delivered later: the instance moves on and keeps waiting.
    await h.engine.signal(id, 'prepare', { transition: 'ready' });
    await h.atStep(id, 'collect');
    await h.coordinator.idle();
    const snapshot = await h.engine.getInstance(id);
    expect(snapshot.currentStep).toBe('collect');
    expect(snapshot.variables.received).toBeUndefined();
  });
});
