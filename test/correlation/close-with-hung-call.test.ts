import { InProcessTransport } from '@psi/adapters';
import { Input, Output, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsString } from 'class-validator';
import { describeEachStore, openHarness, useTempDir, type Harness } from './fixtures';

// A service call that never settles must not hold `coordinator.close()` forever: the in-process
// transport fails it when its stop grace is over, close returns, and the next coordinator on the
// same store sends the request again (at least once: nothing is lost).

abstract class Warehouse {
  abstract reserve(request: { sku: string }): Promise<{ slot: string }>;
}

@ServiceAdapter({ step: 'reserve', service: 'warehouse' })
class ReserveAdapter {
  @Input() @IsString() sku!: string;
  @Output() slot?: string;
  @UseService(Warehouse) warehouse!: Warehouse;

  async callService(): Promise<void> {
    this.slot = (await this.warehouse.reserve({ sku: this.sku })).slot;
  }
}

const reserveProcess = defineProcess({
  id: 'reserve',
  start: 'reserve',
  steps: {
    reserve: { kind: 'service', next: 'done' },
    done: { kind: 'end' },
  },
});

describeEachStore('closing while a service call hangs', () => {
  const temp = useTempDir();
  const harnesses: Harness[] = [];
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.close();
  });

  async function open(
    file: ReturnType<typeof temp.file>,
    reserve: () => unknown,
    restore: boolean,
  ) {
    const transport = new InProcessTransport({ stopGraceMs: 20 }).register('warehouse', {
      reserve,
    });
    const h = await openHarness({
      file,
      definitions: [reserveProcess],
      adapters: [ReserveAdapter],
      transports: [transport],
      registry: {
        warehouse: {
          transport: 'in-process',
          address: 'warehouse',
          retry: { maxAttempts: 3, initialDelayMs: 1, multiplier: 1, maxDelayMs: 1 },
        },
      },
      restore,
    });
    harnesses.push(h);
    return h;
  }

  it('close returns, and the next coordinator sends the request again', async () => {
    const file = temp.file();
    let reached!: () => void;
    const called = new Promise<void>((resolve) => (reached = resolve));
    const first = await open(
      file,
      () => {
        reached();
        return new Promise(() => undefined); // the service never answers
      },
      false,
    );
    const id = await first.engine.start('reserve', { sku: 'SKU-9' });
    await called;
    await first.coordinator.close();
    await first.close();
    harnesses.splice(harnesses.indexOf(first), 1);

    const second = await open(file, () => ({ slot: 'SLOT-9' }), true);
    expect(await second.engine.whenEnded(id)).toMatchObject({
      status: 'completed',
      variables: { sku: 'SKU-9', slot: 'SLOT-9' },
    });
  });
});
