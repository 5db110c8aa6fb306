import {
  Input,
  OnResponse,
  Output,
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
} from './fixtures';

// Semantic 11: the audit log records every step per instance (invoked, sent, parked, released,
// delivered, timed out, retried, frozen, thawed, dead-lettered), with timestamps, in order,
// queryable by instance id.

abstract class Lab {
  abstract analyse(request: { sample: string }): Promise<void>;
}

@ServiceAdapter({ step: 'analyse', service: 'lab' })
class AnalyseAdapter {
  @Input() @IsString() sample!: string;
  @Output() result?: string;
  @UseService(Lab) lab!: Lab;

  async callService(): Promise<void> {
    await this.lab.analyse({ sample: this.sample });
  }

  @OnResponse('analysed', {
    waitState: 'await-result',
    timeoutMs: 1_500,
    timeoutTransition: 'timeout',
  })
  analysed(answer: { result: string }): string {
    this.result = answer.result;
    return 'ok';
  }
}

const labProcess = defineProcess({
  id: 'lab',
  start: 'analyse',
  steps: {
    analyse: { kind: 'service', next: 'label' },
    label: { kind: 'wait', next: 'await-result' },
    'await-result': { kind: 'wait', transitions: { ok: 'done', timeout: 'redo' } },
    done: { kind: 'end' },
    redo: { kind: 'end' },
  },
});

describeEachStore('audit log', () => {
  const temp = useTempDir();
  let h: Harness;
  let lab: RecordingService;
  const failFor = new Map<string, number>();

  beforeEach(async () => {
    lab = new RecordingService({
      analyse: (payload) => {
        const sample = (payload as { sample: string }).sample;
        const left = failFor.get(sample) ?? 0;
        if (left > 0) {
          failFor.set(sample, left - 1);
          throw new TransportTechnicalError('lab offline');
        }
        return undefined;
      },
    });
    h = await openHarness({
      file: temp.file(),
      definitions: [labProcess],
      adapters: [AnalyseAdapter],
      services: { lab: lab.service },
      registry: {
        lab: {
          transport: 'in-process',
          address: 'lab',
          retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 2 },
        },
      },
    });
  });
  afterEach(() => h.close());

  it('records each step of each instance with timestamps, in order, queryable by instance id', async () => {
    failFor.set('S-2', 2);
    const happy = await h.engine.start('lab', { sample: 'S-1' }, { instanceId: 'happy' });
    const troubled = await h.engine.start('lab', { sample: 'S-2' }, { instanceId: 'troubled' });

    // happy: the answer arrives while the sample is being labelled: parked, then released.
    await h.atStep(happy, 'label');
    const happyCall = lab.calls.find((c) => (c.payload as { sample: string }).sample === 'S-1')!;
    await happyCall.context.respond('analysed', { result: 'negative' });
    await h.engine.signal(happy, 'label');
    expect(await h.engine.whenEnded(happy)).toMatchObject({
      status: 'completed',
      variables: { result: 'negative' },
    });
    await h.coordinator.idle();
    // A second, different answer after delivery is late.
    await happyCall.context.respond('analysed', { result: 'positive' });

    // troubled: two technical failures freeze it; thawed; then it times out while still at "label".
    const [frozen] = await waitUntil(async () => {
      const found = await h.coordinator.invocations({ instanceId: troubled, status: 'frozen' });
      return found.length > 0 ? found : undefined;
    }, 'troubled froze');
    await h.coordinator.thaw(frozen.id);
    await h.atStep(troubled, 'label');
    // The deadline wins while the instance is still at "label": the timeout waits to be
    // signalled (no audit entry yet: a timeout has one, written once it is signalled).
    await waitUntil(async () => {
      const [row] = await h.query<{ status: string; timeoutPending: number }>(
        'SELECT status, "timeoutPending" FROM psi_expectation WHERE "instanceId" = ?',
        [troubled],
      );
      return row?.status === 'timed-out' && row.timeoutPending === 1;
    }, 'the deadline claimed');
    expect(h.traces.filter((e) => e.kind === 'timed-out')).toEqual([]);
    await h.engine.signal(troubled, 'label');
    expect(await h.engine.whenEnded(troubled)).toMatchObject({
      status: 'completed',
      history: ['analyse', 'label', 'await-result', 'redo'],
    });
    await h.coordinator.idle();

    const happyTrail = await h.coordinator.auditTrail(happy);
    expect(kinds(happyTrail)).toEqual([
      'invoked',
      'sent',
      'completed',
      'parked',
      'released',
      'delivered',
      'dead-lettered',
    ]);
    expect(happyTrail.at(-1)!.detail).toMatchObject({ reason: 'late', event: 'analysed' });

    const troubledTrail = await h.coordinator.auditTrail(troubled);
    expect(kinds(troubledTrail)).toEqual([
      'invoked',
      'retried',
      'frozen',
      'thawed',
      'sent',
      'completed',
      'timed-out',
    ]);
    expect(troubledTrail.at(-1)!.detail).toMatchObject({
      signalled: 'timeout',
      waitState: 'await-result',
      deadline: expect.any(Number),
    });

    for (const trail of [happyTrail, troubledTrail]) {
      // Dead-letter entries name the letter (detail.deadLetterId) rather than the invocation.
      for (const e of trail.filter((x) => x.kind === 'dead-lettered'))
        expect(e.detail?.deadLetterId).toEqual(expect.any(String));
      const invocationIds = new Set(
        trail.filter((e) => e.kind !== 'dead-lettered').map((e) => e.invocationId),
      );
      expect(invocationIds.size).toBe(1);
      expect([...invocationIds][0]).toEqual(expect.any(String));
      for (let i = 1; i < trail.length; i++)
        expect(trail[i].at).toBeGreaterThanOrEqual(trail[i - 1].at);
      expect(trail.every((e) => typeof e.at === 'number' && e.at > 1_600_000_000_000)).toBe(true);
    }
    expect(await h.coordinator.auditTrail('no-such-instance')).toEqual([]);
    // The same entries are in the psi_audit table, keyed by instance.
    const rows = await h.query<{ kind: string }>(
      'SELECT kind FROM psi_audit WHERE "instanceId" = ? ORDER BY seq',
      [troubled],
    );
    expect(rows.map((r) => r.kind)).toEqual(kinds(troubledTrail));
  });

  it('is complete when the engine reports the end: the step that ended the instance is in it', async () => {
    const id = await h.engine.start('lab', { sample: 'S-3' });
    await h.atStep(id, 'label');
    await h.engine.signal(id, 'label');
    await h.atStep(id, 'await-result');
    const answering = lab.last().respond('analysed', { result: 'clear' });

    await h.engine.whenEnded(id);
    // Read right away, not after idle(): the delivery that ended the instance is recorded.
    expect(kinds(await h.coordinator.auditTrail(id))).toEqual([
      'invoked',
      'sent',
      'completed',
      'delivered',
    ]);
    expect(await answering).toMatchObject({ status: 'delivered', instanceId: id });
  });
});
