// A coordinator on an SQLite file with the installed packages: the supplier's confirmation comes
// before the instance waits for it, is parked, and is delivered once the instance is ready.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { InProcessTransport } from '@psi/adapters';
import { Coordinator, PsiStore } from '@psi/core';
import { defineProcess, ReferenceEngine } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import { SendOrderAdapter } from './send-order.adapter';

const orderProcess = defineProcess({
  id: 'order',
  start: 'send-to-supplier',
  steps: {
    'send-to-supplier': { kind: 'service', next: 'print' },
    print: { kind: 'wait', transitions: { printed: 'await-confirmation' } },
    'await-confirmation': { kind: 'wait', transitions: { confirmed: 'done' } },
    done: { kind: 'end' },
  },
});

test('an early confirmation is parked on SQLite and delivered when the instance waits', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'psi-packed-'));
  const store = await PsiStore.open({ sqlitePath: path.join(dir, 'psi.sqlite') });
  const engine = new ReferenceEngine({ definitions: [orderProcess], stateRepository: store.engineStates() });
  const supplier = new InProcessTransport().register('supplier', {
    placeOrder: (order, context) => {
      const { orderNumber } = order as { orderNumber: string };
      // Answer right away: before the instance reaches "await-confirmation".
      setImmediate(() =>
        void context.respond('order-confirmed', { orderNumber, confirmationId: 'C-1', deliveryDate: '2026-12-01' }),
      );
      return undefined;
    },
  });
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({ supplier: { transport: 'in-process', address: 'supplier' } }),
    transports: [supplier],
    adapters: [SendOrderAdapter],
  });
  await coordinator.start();
  try {
    const instanceId = await engine.start('order', { orderNumber: 'PO-7', item: 'bolts', quantity: 5 });
    const kinds = async (): Promise<string[]> =>
      (await coordinator.auditTrail(instanceId)).map((entry) => entry.kind);
    await waitFor(async () => (await kinds()).includes('parked'));
    await engine.signal(instanceId, 'print', { transition: 'printed' });
    const ended = await engine.whenEnded(instanceId);

    assert.equal(ended.status, 'completed');

    const variables = await engine.getVariables(instanceId);
    assert.equal(variables.confirmationId, 'C-1');
    const steps = await kinds();
    assert.ok(steps.includes('delivered'), `audit: ${steps.join(', ')}`);
  } finally {
    await coordinator.close();
    await engine.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('condition not met within 5 s');
}
