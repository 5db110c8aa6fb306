'use strict';
// A PSI node in its own process for the CLI tests: plain JS on the built packages (dist), a
// Coordinator + ReferenceEngine on the store the test names (a SQLite file or a PostgreSQL
// schema), with the order process of the operations tests. On start it makes ORDERS orders wait
// at "await" and turns their answers into handler-failed dead letters (the handler is broken
// while they arrive), then mends the handler and reports "ready" over IPC. Every handler run
// inserts a row into test_side_effect, so a delivery that happened twice shows as two rows.
//
// Environment: PSI_SQLITE or PSI_URL + PSI_SCHEMA, NODE_ID, LEASE_MS, ORDERS (0: set nothing up).
const {
  Coordinator,
  PsiStore,
  ServiceAdapter,
  Input,
  Output,
  UseService,
  OnResponse,
} = require('@psi/core');
const { ReferenceEngine, defineProcess } = require('@psi/engines');
const { StaticRegistry } = require('@psi/registry');
const { InProcessTransport } = require('@psi/adapters');

const nodeId = process.env.NODE_ID ?? 'node-1';
const postgres = Boolean(process.env.PSI_URL);
let store;
let broken = false;

class Supplier {}

class SendAdapter {
  async callService() {
    await this.supplier.placeOrder({ orderNumber: this.orderNumber });
  }
  async confirmed(answer) {
    if (broken) throw new Error('confirmation store unavailable');
    const sql = postgres
      ? 'INSERT INTO test_side_effect ("orderNumber", node) VALUES ($1, $2)'
      : 'INSERT INTO test_side_effect ("orderNumber", node) VALUES (?, ?)';
    await store.dataSource.query(sql, [answer.orderNumber, nodeId]); // the handler's own table
    this.confirmationId = answer.confirmationId;
    return 'confirmed';
  }
}
Input()(SendAdapter.prototype, 'orderNumber');
Output()(SendAdapter.prototype, 'confirmationId');
UseService(Supplier)(SendAdapter.prototype, 'supplier');
OnResponse('confirmed', {
  waitState: 'await',
  businessKey: { orderNumber: 'orderNumber' },
})(SendAdapter.prototype, 'confirmed');
ServiceAdapter({ step: 'send', service: 'supplier' })(SendAdapter);

const orderProcess = defineProcess({
  id: 'order',
  start: 'send',
  steps: {
    send: { kind: 'service', next: 'await' },
    await: { kind: 'wait', transitions: { confirmed: 'done' } },
    done: { kind: 'end' },
  },
});

const send = (message) => {
  if (process.connected) process.send(message);
};

async function waitFor(check) {
  for (let i = 0; i < 2000; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('node set-up timed out');
}

async function main() {
  store = await PsiStore.open(
    postgres
      ? { url: process.env.PSI_URL, schema: process.env.PSI_SCHEMA, poolSize: 6 }
      : { sqlitePath: process.env.PSI_SQLITE },
  );
  // The handler's own side-effect table, beside PSI's (not a PSI record).
  await store.dataSource.query(
    'CREATE TABLE IF NOT EXISTS test_side_effect ("orderNumber" varchar NOT NULL, node varchar NOT NULL)',
  );
  const engine = new ReferenceEngine({
    definitions: [orderProcess],
    stateRepository: store.engineStates(),
    cacheSize: 0,
  });
  const transport = new InProcessTransport().register('supplier', { placeOrder: () => undefined });
  // A node in a child process (plain JS on the built packages): not @psi/testing.
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({ supplier: { transport: 'in-process', address: 'supplier' } }),
    transports: [transport],
    adapters: [SendAdapter],
    nodeId,
    leaseMs: Number(process.env.LEASE_MS ?? 30_000),
    operations: { pollMs: 100 },
    logger: {
      warn: (message) => send({ type: 'problem', level: 'warn', message }),
      error: (message, detail) =>
        send({
          type: 'problem',
          level: 'error',
          message,
          detail: String(detail?.message ?? detail),
        }),
    },
  });
  await coordinator.start();
  await engine.restore();

  const orders = Number(process.env.ORDERS ?? 0);
  if (orders > 0) {
    broken = true;
    for (let i = 1; i <= orders; i++) {
      const id = `order-${i}`;
      await engine.start('order', { orderNumber: `PO-${i}` }, { instanceId: id });
      await waitFor(async () => (await engine.getWaitStates(id)).includes('await'));
      await coordinator.idle();
      await coordinator.receive({
        messageId: `answer-${i}`,
        event: 'confirmed',
        payload: { orderNumber: `PO-${i}`, confirmationId: `C-${i}` },
      });
    }
    broken = false;
  }
  process.on('message', (command) => {
    if (command.cmd !== 'stop') return;
    (async () => {
      await coordinator.close();
      await engine.stop();
      await store.close();
      send({ type: 'stopped' });
      process.disconnect();
    })().catch((error) => send({ type: 'problem', level: 'stop', message: String(error) }));
  });
  send({ type: 'ready', nodeId });
}

main().catch((error) => {
  send({ type: 'problem', level: 'fatal', message: String(error?.stack ?? error) });
  process.exitCode = 1;
});
