import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsString } from 'class-validator';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  useTempDir,
  type Harness,
} from './fixtures';

// Issue 16.3: an expectation takes one answer. Two answers with the same business key are
// parked before any instance expects them; an instance with two consecutive catches of that
// event starts. The first expectation adopts the first answer only; the second stays parked, in
// arrival order, and the second expectation takes it. Before, the first adopted both and the
// second became a `late` dead letter at once, stalling the instance at its second catch.

abstract class Scale {
  abstract weigh(request: { lot: string }): Promise<void>;
}

class Weight {
  @IsString() lot!: string;
  @IsString() grams!: string;
}

/** Bound to both weighing steps: each asks the scale, each takes one `weighed` answer. */
function weighAdapter(step: string, waitState: string, output: string) {
  @ServiceAdapter({ step, service: 'scale' })
  class WeighAdapter {
    @Input() @IsString() lot!: string;
    @UseService(Scale) scale!: Scale;

    async callService(): Promise<void> {
      await this.scale.weigh({ lot: this.lot });
    }

    @OnResponse('weighed', { waitState, payload: Weight, businessKey: { lot: 'lot' } })
    weighed(answer: Weight): string {
      (this as unknown as Record<string, string>)[output] = answer.grams;
      return 'weighed';
    }
  }
  Output()(WeighAdapter.prototype, output);
  Object.defineProperty(WeighAdapter, 'name', { value: `Weigh${output}Adapter` });
  return WeighAdapter;
}

const FirstWeighing = weighAdapter('weigh-gross', 'await-gross', 'gross');
const SecondWeighing = weighAdapter('weigh-tare', 'await-tare', 'tare');

const weighingProcess = defineProcess({
  id: 'weighing',
  start: 'weigh-gross',
  steps: {
    'weigh-gross': { kind: 'service', next: 'await-gross' },
    'await-gross': { kind: 'wait', transitions: { weighed: 'weigh-tare' } },
    'weigh-tare': { kind: 'service', next: 'await-tare' },
    'await-tare': { kind: 'wait', transitions: { weighed: 'done' } },
    done: { kind: 'end' },
  },
});

describeEachStore('adoption of parked answers', () => {
  const temp = useTempDir();
  let h: Harness;

  beforeEach(async () => {
    h = await openHarness({
      file: temp.file(),
      definitions: [weighingProcess],
      adapters: [FirstWeighing, SecondWeighing],
      services: { scale: new RecordingService({ weigh: undefined }).service },
      registry: { scale: { transport: 'in-process', address: 'scale' } },
    });
  });
  afterEach(() => h.close());

  it('an expectation adopts one parked answer; the next stays parked for the next expectation', async () => {
    for (const [messageId, grams] of [
      ['w-1', '1200'],
      ['w-2', '200'],
    ]) {
      expect(
        await h.coordinator.receive({
          messageId,
          event: 'weighed',
          payload: { lot: 'L-1', grams },
        }),
      ).toMatchObject({ status: 'parked' });
    }

    const id = await h.engine.start('weighing', { lot: 'L-1' });
    const final = await h.engine.whenEnded(id);

    expect(final.variables).toMatchObject({ gross: '1200', tare: '200' });
    expect(final.history).toEqual([
      'weigh-gross',
      'await-gross',
      'weigh-tare',
      'await-tare',
      'done',
    ]);
    expect(await h.coordinator.deadLetters.list()).toEqual([]);
    expect(await h.query('SELECT seq FROM psi_parked_message')).toEqual([]);
    const trail = await h.coordinator.auditTrail(id);
    const delivered = trail.filter((e) => e.kind === 'delivered');
    expect(delivered.map((e) => e.detail?.waitState)).toEqual(['await-gross', 'await-tare']);
  });
});
