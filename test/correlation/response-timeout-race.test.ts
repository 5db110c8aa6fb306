import {
  Input,
  OnResponse,
  Output,
  ServiceAdapter,
  UseService,
  type ReceiveOutcome,
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

// Semantic 7 under load: 200 answer-vs-timeout races on one store (SQLite file, PostgreSQL
// schema). Each answer is sent at about its expectation's deadline (most from 30 ms before to
// 30 ms after), so answers and the timer really compete. Every race has exactly one winner; when the timeout wins, the answer is kept
// as a `late` dead letter; nothing is delivered twice, nothing stays parked.

const RACES = 200;
// Races run in waves; the deadline leaves a wave time to reach its wait state first, so that
// only the answer and the timer compete.
const WAVES = 2;
const TIMEOUT_MS = 2_500;

abstract class Pager {
  abstract page(request: { who: string }): Promise<void>;
}

@ServiceAdapter({ step: 'page', service: 'pager' })
class PageAdapter {
  @Input() @IsString() who!: string;
  @Output() answeredBy?: string;
  @UseService(Pager) pager!: Pager;

  async callService(): Promise<void> {
    await this.pager.page({ who: this.who });
  }

  @OnResponse('ack', {
    waitState: 'await-ack',
    timeoutMs: TIMEOUT_MS,
    timeoutTransition: 'timeout',
  })
  ack(answer: { by: string }): string {
    this.answeredBy = answer.by;
    return 'acked';
  }
}

const pageProcess = defineProcess({
  id: 'page',
  start: 'page',
  steps: {
    page: { kind: 'service', next: 'await-ack' },
    'await-ack': { kind: 'wait', transitions: { acked: 'acked', timeout: 'escalated' } },
    acked: { kind: 'end' },
    escalated: { kind: 'end' },
  },
});

describeEachStore('answer vs timeout races', () => {
  const temp = useTempDir();
  let h: Harness;
  let pager: RecordingService;

  beforeAll(async () => {
    pager = new RecordingService({ page: undefined });
    h = await openHarness({
      file: temp.file(),
      definitions: [pageProcess],
      adapters: [PageAdapter],
      services: { pager: pager.service },
      registry: { pager: { transport: 'in-process', address: 'pager' } },
    });
  });
  afterAll(() => h.close());

  /**
   * When answer `j` of a wave is sent, relative to its deadline: 80 % within [-30, +30] ms (a
   * genuine race), 20 % within [+100, +300] ms, so that the timer wins some races even on a
   * loaded machine where the scheduler runs tens of ms behind.
   */
  function offsetOf(j: number, size: number): number {
    const close = Math.floor(size * 0.8);
    if (j < close) return -30 + Math.round((60 * j) / (close - 1));
    return 100 + Math.round((200 * (j - close)) / Math.max(1, size - close - 1));
  }

  /** Starts RACES / WAVES instances, then answers each at its deadline + offsetOf(j). */
  async function runWave(
    wave: number,
    ids: string[],
    outcomes: Map<string, ReceiveOutcome>,
  ): Promise<void> {
    const size = RACES / WAVES;
    const first = ids.length;
    const waveIds = await Promise.all(
      Array.from({ length: size }, (_, j) =>
        h.engine.start(
          'page',
          { who: `on-call-${first + j}` },
          { instanceId: `race-${first + j}` },
        ),
      ),
    );
    ids.push(...waveIds);
    await waitUntil(
      () => h.traces.filter((e) => e.kind === 'completed').length === ids.length,
      `wave ${wave}: every page sent`,
    );
    // Waiting for its ack, or (on a very slow machine) already timed out: both still race an answer.
    await waitUntil(async () => {
      const snapshots = await Promise.all(waveIds.map((id) => h.engine.getInstance(id)));
      return snapshots.every((st) => st.currentStep === 'await-ack' || st.status !== 'running');
    }, `wave ${wave}: every instance waits for its ack`);
    const deadlines = new Map(
      (
        await h.query<{ instanceId: string; deadline: number }>(
          `SELECT "instanceId", deadline FROM psi_expectation WHERE "instanceId" IN (${waveIds.map(() => '?').join(',')})`,
          waveIds,
        )
      ).map((r) => [r.instanceId, Number(r.deadline)]),
    );
    const contexts = new Map(
      pager.calls.map((c) => [
        `race-${(c.payload as { who: string }).who.slice('on-call-'.length)}`,
        c.context,
      ]),
    );
    await Promise.all(
      waveIds.map(
        (id, j) =>
          new Promise<void>((resolve, reject) => {
            const offset = offsetOf(j, size);
            setTimeout(
              () => {
                contexts
                  .get(id)!
                  .respond('ack', { by: `responder-${first + j}` })
                  .then((outcome) => {
                    outcomes.set(id, outcome);
                    resolve();
                  }, reject);
              },
              Math.max(0, deadlines.get(id)! + offset - Date.now()),
            );
          }),
      ),
    );
  }

  it(`${RACES} races: exactly one winner each, the losing answer recorded as late`, async () => {
    const ids: string[] = [];
    const outcomes = new Map<string, ReceiveOutcome>();
    for (let wave = 0; wave < WAVES; wave++) await runWave(wave, ids, outcomes);
    const finals = await Promise.all(ids.map((id) => h.engine.whenEnded(id)));
    await h.coordinator.idle();

    const expectations = new Map(
      (
        await h.query<{ instanceId: string; status: string }>(
          'SELECT "instanceId", status FROM psi_expectation',
        )
      ).map((r) => [r.instanceId, r.status]),
    );
    const late = await h.coordinator.deadLetters.list();
    const lateByInstance = new Map(late.map((l) => [l.instanceId, l]));
    let answered = 0;
    let timedOut = 0;
    for (const [i, id] of ids.entries()) {
      const final = finals[i];
      const outcome = outcomes.get(id)!;
      const winner = final.history.at(-1);
      if (winner === 'acked') {
        answered++;
        expect(outcome).toMatchObject({ status: 'delivered', instanceId: id });
        expect(final.variables.answeredBy).toBe(`responder-${i}`);
        expect(expectations.get(id)).toBe('delivered');
        expect(lateByInstance.has(id)).toBe(false);
      } else {
        timedOut++;
        expect(winner).toBe('escalated');
        expect(outcome).toMatchObject({ status: 'dead-lettered', reason: 'late' });
        expect(final.variables.answeredBy).toBeUndefined();
        expect(expectations.get(id)).toBe('timed-out');
        expect(lateByInstance.get(id)).toMatchObject({
          reason: 'late',
          payload: { by: `responder-${i}` },
        });
      }
      expect(final.status).toBe('completed');
      expect(final.history).toHaveLength(3);
    }
    expect(answered + timedOut).toBe(RACES);
    expect(late).toHaveLength(timedOut);
    expect(late.every((l) => l.reason === 'late')).toBe(true);
    expect(await h.query('SELECT seq FROM psi_parked_message')).toEqual([]);
    expect(h.coordinator.stats()).toMatchObject({
      delivered: answered,
      timedOut,
      deadLettered: timedOut,
    });
    // Both sides won some races: the answers really competed with the timer.
    expect(answered).toBeGreaterThan(0);
    expect(timedOut).toBeGreaterThan(0);
    const [audit] = await h.query<{ delivered: number; timedOut: number }>(
      `SELECT SUM(CASE WHEN kind = 'delivered' THEN 1 ELSE 0 END) AS delivered, SUM(CASE WHEN kind = 'timed-out' THEN 1 ELSE 0 END) AS "timedOut" FROM psi_audit`,
    );
    expect({ delivered: Number(audit.delivered), timedOut: Number(audit.timedOut) }).toEqual({
      delivered: answered,
      timedOut,
    });
  });
});
