import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  useTempDir,
  waitUntil,
  type Harness,
} from './fixtures';

// Issue 16.8: a race PSI settles by itself is not a warning. Here the instance leaves the wait
// state (a signal from outside; an engine timer does the same) while the answer's handler runs:
// the engine refuses the answer's signal. The answer won its claim, so its group stays closed and
// it becomes a `late` dead letter (kept, with what happened); the log line is at debug level.

// A test holds the handler here to make the race happen at a chosen moment.
let handlerGate: Promise<void> = Promise.resolve();

abstract class Courier {
  abstract ship(request: { parcel: string }): Promise<void>;
}

@ServiceAdapter({ step: 'ship', service: 'courier' })
class ShipAdapter {
  @Input() parcel!: string;
  @Output() outcome?: string;
  @UseService(Courier) courier!: Courier;

  async callService(): Promise<void> {
    await this.courier.ship({ parcel: this.parcel });
  }

  @OnResponse('delivered', { waitState: 'await-outcome', group: 'outcome' })
  async delivered(): Promise<string> {
    await handlerGate;
    this.outcome = 'delivered';
    return 'delivered';
  }

  @OnResponse('returned', { waitState: 'await-outcome', group: 'outcome' })
  returned(): string {
    this.outcome = 'returned';
    return 'returned';
  }
}

const shipProcess = defineProcess({
  id: 'ship',
  start: 'ship',
  steps: {
    ship: { kind: 'service', next: 'await-outcome' },
    'await-outcome': {
      kind: 'wait',
      transitions: { delivered: 'done', returned: 'done', lost: 'investigate' },
    },
    investigate: { kind: 'wait', next: 'done' },
    done: { kind: 'end' },
  },
});

describeEachStore('expected races', () => {
  const temp = useTempDir();
  let h: Harness;
  let courier: RecordingService;
  const debug: string[] = [];

  beforeEach(async () => {
    debug.length = 0;
    courier = new RecordingService({ ship: undefined });
    h = await openHarness({
      file: temp.file(),
      definitions: [shipProcess],
      adapters: [ShipAdapter],
      services: { courier: courier.service },
      registry: { courier: { transport: 'in-process', address: 'courier' } },
      coordinator: {
        logger: {
          warn: (message, detail) => h.problems.push({ level: 'warn', message, detail }),
          error: (message, detail) => h.problems.push({ level: 'error', message, detail }),
          debug: (message) => debug.push(message),
        },
      },
    });
  });
  afterEach(() => h.close());

  it('the instance leaves the wait state while the handler runs: logged at debug, the answer late, the group closed', async () => {
    const id = await h.engine.start('ship', { parcel: 'P-1' });
    await h.atStep(id, 'await-outcome');
    let openGate!: () => void;
    handlerGate = new Promise((resolve) => (openGate = resolve));
    const answering = courier.last().respond('delivered', {});
    await waitUntil(async () => {
      const [row] = await h.query<{ status: string }>(
        `SELECT status FROM psi_expectation WHERE event = 'delivered'`,
      );
      return row.status === 'claimed';
    }, 'the answer is claimed and its handler runs');
    // Someone outside PSI moves the instance on while the handler runs.
    await h.engine.signal(id, 'await-outcome', { transition: 'lost' });
    openGate();
    handlerGate = Promise.resolve();

    expect(await answering).toMatchObject({ status: 'dead-lettered', reason: 'late' });
    const [letter] = await h.coordinator.deadLetters.list({ reason: 'late' });
    expect(letter.detail).toMatchObject({
      handlerRan: true,
      currentStates: ['investigate'],
      deliveryId: expect.any(String),
    });
    expect(h.problems).toEqual([]);
    // The flow's own debug lines (sent, received, …) come too; the race is logged once.
    expect(debug.filter((line) => line.startsWith('Instance '))).toEqual([
      `Instance ${id} left "await-outcome" before it took "delivered"; the answer is dead-lettered late`,
    ]);
    // The answer won the group: the sibling stays closed, a later "returned" is superseded.
    expect(await courier.last().respond('returned', {})).toMatchObject({
      status: 'dead-lettered',
      reason: 'superseded',
    });
    expect(await h.query('SELECT event, status FROM psi_expectation ORDER BY event')).toEqual([
      { event: 'delivered', status: 'cancelled' },
      { event: 'returned', status: 'superseded' },
    ]);
  });
});
