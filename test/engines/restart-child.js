'use strict';
// A PSI node in its own process, for the engine restart tests: plain JS on the built packages and
// the built procurement sample (samples/dist), with its adapter classes as they are.
// Usage: node restart-child.js <plugin> <scenario> <sqlite file> <journal file> [key] [order number]
//   plugin:   reference | bpmn-engine | xstate
//   scenario: start-then-kill  start an instance, take it to the receive task, then SIGKILL itself
//             start-then-exit  the same, then close everything and exit 0
//             resume           restore from the store, deliver the supplier's answer, await the end
// The journal records what the node saw; the parent reads it and the store.
const fs = require('node:fs');
const path = require('node:path');
const { Coordinator, PsiStore } = require('@psi/core');
const engines = require('@psi/engines');
const { InProcessTransport } = require('@psi/adapters');
const { StaticRegistry } = require('@psi/registry');

const samples = path.resolve(__dirname, '..', '..', 'samples', 'dist');
const { SendOrderAdapter } = require(path.join(samples, 'procurement/adapters/send-order.adapter'));
const { InsertIntoErpAdapter } = require(
  path.join(samples, 'procurement/adapters/insert-into-erp.adapter'),
);
const { createErp } = require(path.join(samples, 'procurement/services'));

const [plugin, scenario, sqlitePath, journalPath, answerKey, orderNumber] = process.argv.slice(2);
const journal = (entry) =>
  fs.appendFileSync(journalPath, `${JSON.stringify({ pid: process.pid, ...entry })}\n`);
const INSTANCE_ID = 'order-1';

/** The procurement process on the named plugin; `liveEngines` counts live engine objects. */
function createEngine(stateRepository) {
  switch (plugin) {
    case 'reference': {
      const { procurementProcess } = require(path.join(samples, 'procurement/procurement.process'));
      const engine = new engines.ReferenceEngine({
        definitions: [procurementProcess],
        stateRepository,
      });
      return { engine, liveEngines: () => undefined };
    }
    case 'bpmn-engine': {
      const { loadProcurementBpmn } = require(
        path.join(samples, 'procurement-bpmn/procurement-bpmn-source'),
      );
      const engine = new engines.BpmnEnginePlugin({
        definitions: [loadProcurementBpmn()],
        stateRepository,
      });
      return { engine, liveEngines: () => engine.liveInstances };
    }
    case 'xstate': {
      const { procurementMachine } = require(
        path.join(samples, 'xstate-procurement/procurement.machine'),
      );
      const engine = new (require('@psi/engines/xstate').XStatePlugin)({
        definitions: [procurementMachine],
        stateRepository,
      });
      return { engine, liveEngines: () => undefined };
    }
    default:
      throw new Error(`unknown plugin ${plugin}`);
  }
}

async function main() {
  const store = await PsiStore.open({ sqlitePath });
  const { engine, liveEngines } = createEngine(store.engineStates());
  // The supplier takes the order and answers later (the parent hands the answer to "resume").
  const supplier = {
    placeOrder: (payload, context) => {
      journal({
        kind: 'order',
        orderNumber: payload.orderNumber,
        correlationKey: context.correlationKey,
      });
      return undefined;
    },
  };
  // A node in a child process (plain JS on the built packages): not @psi/testing.
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({
      supplier: { transport: 'in-process', address: 'supplier' },
      erp: { transport: 'in-process', address: 'erp' },
    }),
    transports: [
      new InProcessTransport().register('supplier', supplier).register('erp', createErp()),
    ],
    adapters: [SendOrderAdapter, InsertIntoErpAdapter],
    logger: {
      warn: () => undefined,
      error: (message, detail) => journal({ kind: 'error', message, detail: String(detail) }),
    },
  });
  await engine.restore();
  await coordinator.start();

  switch (scenario) {
    case 'start-then-kill':
    case 'start-then-exit': {
      await engine.start(
        'procurement',
        { customer: 'ACME Tools', item: 'M8 steel bolts', quantity: 500 },
        { instanceId: INSTANCE_ID },
      );
      await until(async () =>
        (await engine.getWaitStates(INSTANCE_ID)).includes('print-and-archive'),
      );
      await engine.signal(INSTANCE_ID, 'print-and-archive', {
        transition: 'printed',
        variables: { archiveRef: 'ARCH-1' },
      });
      await until(async () =>
        (await engine.getWaitStates(INSTANCE_ID)).includes('await-confirmation'),
      );
      await coordinator.idle();
      journal({
        kind: 'waiting',
        waitStates: await engine.getWaitStates(INSTANCE_ID),
        variables: await engine.getVariables(INSTANCE_ID),
        liveEngines: liveEngines(),
      });
      if (scenario === 'start-then-kill') process.kill(process.pid, 'SIGKILL');
      break;
    }
    case 'resume': {
      journal({
        kind: 'restored',
        waitStates: await engine.getWaitStates(INSTANCE_ID),
        liveEngines: liveEngines(),
      });
      const outcome = await coordinator.receive({
        messageId: 'confirmation-1',
        event: 'order-confirmed',
        correlationKey: answerKey,
        payload: {
          orderNumber,
          confirmationId: 'CONF-1',
          deliveryDate: '2026-12-01T00:00:00.000Z',
        },
      });
      journal({ kind: 'receive', outcome });
      const final = await engine.whenEnded(INSTANCE_ID);
      await coordinator.idle();
      journal({ kind: 'ended', status: final.status, variables: final.variables });
      break;
    }
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
  await coordinator.close();
  await engine.stop();
  await store.close();
  journal({ kind: 'exit' });
}

async function until(condition) {
  const deadline = Date.now() + 20_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    journal({ kind: 'failure', message: String(error && error.stack ? error.stack : error) });
    process.exit(1);
  },
);
