'use strict';
// A PSI node in its own process, for the crash tests: plain JS on the built packages (dist).
// Usage: node crash-child.js <scenario> <sqlite file> <journal file>
// The journal records every send attempt and what the node saw; the parent reads it and the store.
const fs = require('node:fs');
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

const [scenario, sqlitePath, journalPath] = process.argv.slice(2);
const clockOffset = Number(process.env.PSI_CLOCK_OFFSET_MS ?? 0);
const clock = () => Date.now() + clockOffset;
const journal = (entry) =>
  fs.appendFileSync(journalPath, `${JSON.stringify({ pid: process.pid, ...entry })}\n`);

class Supplier {}

class OrderAdapter {
  async callService() {
    await this.supplier.placeOrder({ orderNumber: this.orderNumber });
  }
  confirmed(answer, delivery) {
    // The handler's side effect, outside PSI's store: one journal line per run.
    journal({
      kind: 'handler',
      deliveryId: delivery.deliveryId,
      redelivered: delivery.redelivered,
    });
    if (scenario === 'kill-in-handler') process.kill(process.pid, 'SIGKILL');
    this.confirmationId = answer.confirmationId;
    return 'confirmed';
  }
}
Input()(OrderAdapter.prototype, 'orderNumber');
Output()(OrderAdapter.prototype, 'confirmationId');
UseService(Supplier)(OrderAdapter.prototype, 'supplier');
OnResponse('confirmed', {
  waitState: 'await-confirmation',
  timeoutMs: 60_000,
  timeoutTransition: 'timeout',
})(OrderAdapter.prototype, 'confirmed');
ServiceAdapter({ step: 'order', service: 'supplier' })(OrderAdapter);

const orderProcess = defineProcess({
  id: 'order',
  start: 'order',
  steps: {
    order: { kind: 'service', next: 'print' },
    print: { kind: 'wait', next: 'await-confirmation' },
    'await-confirmation': {
      kind: 'wait',
      transitions: { confirmed: 'done', timeout: 'timed-out' },
    },
    done: { kind: 'end' },
    'timed-out': { kind: 'end' },
  },
});

/** A transport that journals each attempt; in scenario "crash-before-send" it dies mid-send. */
class JournalTransport {
  constructor() {
    this.name = 'journal';
  }
  async start(sink) {
    this.sink = sink;
  }
  async stop() {}
  async send(request) {
    journal({ kind: 'attempt', requestId: request.requestId });
    if (scenario === 'crash-before-send') process.kill(process.pid, 'SIGKILL');
    journal({ kind: 'sent', requestId: request.requestId, correlationKey: request.correlationKey });
    return { kind: 'accepted' };
  }
}

async function main() {
  const store = await PsiStore.open({ sqlitePath });
  const engine = new ReferenceEngine({
    definitions: [orderProcess],
    stateRepository: store.engineStates(),
    clock,
  });
  // A node in a child process (plain JS on the built packages): not @psi/testing.
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({ supplier: { transport: 'journal', address: 'supplier' } }),
    transports: [new JournalTransport()],
    adapters: [OrderAdapter],
    clock,
    logger: {
      warn: () => undefined,
      error: (message, detail) => journal({ kind: 'error', message, detail }),
    },
  });
  await coordinator.start();
  await engine.restore();
  const [row] = await coordinator.invocations();

  switch (scenario) {
    case 'crash-before-send':
    case 'start': {
      // The outbox entry commits, then the transport is called (and, here, the process dies).
      const id = await engine.start('order', { orderNumber: 'PO-1' }, { instanceId: 'order-1' });
      await until(async () => (await engine.getInstance(id)).currentStep === 'print');
      break;
    }
    case 'park-then-crash': {
      const outcome = await coordinator.receive({
        messageId: 'confirmation-1',
        event: 'confirmed',
        correlationKey: row.correlationKey,
        payload: { confirmationId: 'C-1' },
      });
      journal({ kind: 'receive', outcome });
      process.kill(process.pid, 'SIGKILL');
      break;
    }
    case 'resume': {
      // Recovery (coordinator.start) re-sends what was committed but not sent.
      await until(async () => (await engine.getInstance(row.instanceId)).currentStep === 'print');
      break;
    }
    case 'release': {
      // The instance reaches the wait state: the parked answer (from the killed node) is delivered.
      await engine.signal(row.instanceId, 'print');
      const final = await engine.whenEnded(row.instanceId);
      journal({ kind: 'ended', history: final.history, variables: final.variables });
      break;
    }
    case 'await-end': {
      // Nothing to do: a deadline that passed while no node ran fires on start.
      const final = await engine.whenEnded(row.instanceId);
      journal({ kind: 'ended', history: final.history, variables: final.variables });
      break;
    }
    case 'kill-in-handler': {
      // The answer is claimed, its handler runs (and, here, the process dies inside it, before
      // the engine took the signal).
      await engine.signal(row.instanceId, 'print');
      await until(
        async () => (await engine.getInstance(row.instanceId)).currentStep === 'await-confirmation',
      );
      await coordinator.receive({
        messageId: 'confirmation-1',
        event: 'confirmed',
        correlationKey: row.correlationKey,
        payload: { confirmationId: 'C-1' },
      });
      break;
    }
    case 'arm-timer-then-crash': {
      // The instance waits with an armed deadline; the node dies before it passes.
      await engine.signal(row.instanceId, 'print');
      await until(
        async () => (await engine.getInstance(row.instanceId)).currentStep === 'await-confirmation',
      );
      await coordinator.idle();
      journal({ kind: 'armed' });
      process.kill(process.pid, 'SIGKILL');
      break;
    }
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
  await coordinator.idle();
  await coordinator.close();
  await engine.stop();
  await store.close();
}

async function until(condition) {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

main().catch((error) => {
  journal({ kind: 'failure', message: String(error && error.stack ? error.stack : error) });
  process.exitCode = 1;
});
