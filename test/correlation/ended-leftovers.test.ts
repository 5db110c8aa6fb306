import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  useTempDir,
  type Harness,
} from './fixtures';

// Issue 21.6 and 21.7: what an instance that ended leaves behind is settled at once, also when
// a crash lost its `instance-ended` event (restore() does not raise events for ended instances):
// at start, a parked answer for it becomes a `late` dead letter (not after its 7-day TTL) and a
// timeout whose signal ended it is settled (not `timeoutPending` for ever); an answer arriving
// for it later is `late` at once, not parked.

abstract class Pager {
  abstract page(request: { who: string }): Promise<void>;
}

@ServiceAdapter({ step: 'page', service: 'pager' })
class PageAdapter {
  @Input() who!: string;
  @Output() ackedBy?: string;
  @UseService(Pager) pager!: Pager;

  async callService(): Promise<void> {
    await this.pager.page({ who: this.who });
  }

  @OnResponse('ack', { waitState: 'await-ack', timeoutMs: 300, timeoutTransition: 'timeout' })
  ack(answer: { by: string }): string {
    this.ackedBy = answer.by;
    return 'acked';
  }
}

const pageProcess = defineProcess({
  id: 'page',
  start: 'page',
  steps: {
    page: { kind: 'service', next: 'await-ack' },
    'await-ack': { kind: 'wait', transitions: { acked: 'acked', timeout: 'unanswered' } },
    acked: { kind: 'end' },
    unanswered: { kind: 'end' },
  },
});

describeEachStore('leftovers of ended instances', () => {
  const temp = useTempDir('psi-leftovers-');
  const harnesses: Harness[] = [];
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.close();
  });

  async function node(file: string): Promise<Harness> {
    const h = await openHarness({
      file,
      definitions: [pageProcess],
      adapters: [PageAdapter],
      services: { pager: new RecordingService({ page: undefined }).service },
      registry: { pager: { transport: 'in-process', address: 'pager' } },
      restore: true,
    });
    harnesses.push(h);
    return h;
  }

  async function restart(h: Harness): Promise<Harness> {
    harnesses.splice(harnesses.indexOf(h), 1);
    await h.close();
    const next = await node(h.file);
    await next.coordinator.idle();
    return next;
  }

  /** An instance that timed out and ended; its expectation is `timed-out`. */
  async function timedOut(h: Harness): Promise<{ id: string; expectationId: string }> {
    const id = await h.engine.start('page', { who: 'ann' });
    expect((await h.engine.whenEnded(id)).history).toEqual(['page', 'await-ack', 'unanswered']);
    await h.coordinator.idle();
    const [row] = await h.query<{ id: string }>(
      'SELECT id FROM psi_expectation WHERE "instanceId" = ?',
      [id],
    );
    return { id, expectationId: row.id };
  }

  it('a parked answer left for an ended instance becomes late at the next start (21.6)', async () => {
    const first = await node(temp.file());
    const { id, expectationId } = await timedOut(first);
    // The crash came after the end, before its answer parked meanwhile was settled.
    await first.query(
      `INSERT INTO psi_parked_message ("messageId", event, "correlationKey", "businessKey", payload, source, "expectationId", "instanceId", "receivedAt", "expiresAt")
       VALUES ('ack-1', 'ack', NULL, NULL, '{"by":"bob"}', 'test', ?, ?, ?, ?)`,
      [expectationId, id, Date.now(), Date.now() + 7 * 86_400_000],
    );

    const h = await restart(first);
    expect(await h.query('SELECT seq FROM psi_parked_message')).toEqual([]);
    const [letter] = await h.coordinator.deadLetters.list({ reason: 'late' });
    expect(letter).toMatchObject({
      messageId: 'ack-1',
      instanceId: id,
      payload: { by: 'bob' },
      detail: { instanceEnded: true },
    });
    expect(h.problems).toEqual([]);
  });

  it('a timeout whose signal ended the instance just before a crash is settled at the next start (21.7)', async () => {
    const first = await node(temp.file());
    const { id } = await timedOut(first);
    // The crash came between the timeout's signal (which ended the instance) and its record.
    await first.query(`UPDATE psi_expectation SET "timeoutPending" = (1 = 1)`);

    const h = await restart(first);
    const [row] = await h.query<{ status: string; timeoutPending: number }>(
      'SELECT status, "timeoutPending" FROM psi_expectation',
    );
    expect(row).toEqual({ status: 'timed-out', timeoutPending: 0 });
    const timeouts = (await h.coordinator.auditTrail(id)).filter((e) => e.kind === 'timed-out');
    expect(timeouts.map((e) => e.detail?.reason)).toEqual([
      undefined,
      'the engine took this signal before a restart',
    ]);
    expect(h.problems).toEqual([]);
  });

  it('an answer for an instance whose end a crash left unsettled is late at once, not parked', async () => {
    const first = await node(temp.file());
    const { id } = await timedOut(first);
    // The crash came before the end closed the expectation: it is still open.
    await first.query(
      `UPDATE psi_expectation SET status = 'open', "closedAt" = NULL, "timeoutPending" = (1 = 0), deadline = ?`,
      [Date.now() + 3_600_000],
    );
    const [expectation] = await first.query<{ correlationKey: string }>(
      'SELECT "correlationKey" FROM psi_expectation',
    );

    const h = await restart(first);
    expect(
      await h.coordinator.receive({
        event: 'ack',
        correlationKey: expectation.correlationKey,
        payload: { by: 'cy' },
      }),
    ).toMatchObject({ status: 'dead-lettered', reason: 'late' });
    expect(await h.query('SELECT seq FROM psi_parked_message')).toEqual([]);
    const [row] = await h.query<{ status: string }>('SELECT status FROM psi_expectation');
    expect(row.status).toBe('cancelled');
    expect((await h.engine.getInstance(id)).status).toBe('completed');
  });
});
