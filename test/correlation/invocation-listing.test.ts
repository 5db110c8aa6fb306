import { Input, OnResponse, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsNumber } from 'class-validator';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  TestClock,
  useTempDir,
  waitUntil,
} from './fixtures';

// `invocations()` lists in creation order, also when many are created within one millisecond
// (ids are time-ordered and strictly increasing per process; the listing breaks ties by id),
// and whatever order they were last updated in (PostgreSQL scans rows where their last update
// put them).

abstract class Counter {
  abstract count(request: { n: number }): Promise<void>;
}

@ServiceAdapter({ step: 'count', service: 'counter' })
class CountAdapter {
  @Input() @IsNumber() n!: number;
  @UseService(Counter) counter!: Counter;

  async callService(): Promise<void> {
    await this.counter.count({ n: this.n });
  }

  @OnResponse('counted', { waitState: 'await-counted' })
  counted(): void {}
}

const countProcess = defineProcess({
  id: 'count',
  start: 'count',
  steps: {
    count: { kind: 'service', next: 'await-counted' },
    'await-counted': { kind: 'wait', next: 'done' },
    done: { kind: 'end' },
  },
});

describeEachStore('invocation listing', () => {
  const temp = useTempDir();

  it('lists invocations in the order they were created, within one millisecond too', async () => {
    const clock = new TestClock(); // frozen: every invocation is created at the same millisecond
    const counter = new RecordingService({ count: undefined }); // answers come later
    const h = await openHarness({
      file: temp.file(),
      definitions: [countProcess],
      adapters: [CountAdapter],
      services: { counter: counter.service },
      registry: { counter: { transport: 'in-process', address: 'counter' } },
      clock: clock.now,
    });
    try {
      const started: string[] = [];
      for (let n = 0; n < 40; n++) {
        started.push(await h.engine.start('count', { n }, { instanceId: `count-${n}` }));
      }
      for (const id of started) await h.atStep(id, 'await-counted');
      // Answered newest first: the last updates run in the reverse order of creation.
      for (const call of [...counter.calls].reverse()) {
        await call.context.respond('counted', {});
      }
      const listed = await waitUntil(async () => {
        const all = await h.coordinator.invocations({ status: 'completed' });
        return all.length === started.length ? all : undefined;
      }, 'every invocation completed');
      expect(new Set(listed.map((i) => i.createdAt)).size).toBe(1);
      expect(listed.map((i) => i.instanceId)).toEqual(started);
      expect(h.problems).toEqual([]);
    } finally {
      await h.close();
    }
  });
});
