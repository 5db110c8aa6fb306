'use strict';
// One PSI node in its own process, for the multi-node tests: plain JS on the built packages
// (dist), a Coordinator + ReferenceEngine on a PostgreSQL schema shared with the other nodes.
// The parent drives it over IPC (start instances, hand in answers, guard starts, stop) and the
// node reports every request its service receives, so the parent can answer from "outside".
//
// Environment: PSI_URL, PSI_SCHEMA, NODE_ID, LEASE_MS, TIMEOUT_MS, RESTORE (1: engine.restore()),
// SERVICE_HANGS (1: the service never answers a call).
//
// What is shared between nodes: the store (invocations, expectations, parked answers, dead
// letters, dedupe, guard, audit) and the engine's instance state (psi_engine_instance; the
// reference engine runs with cacheSize 0, so every node reads the current state). What is not:
// each node's in-memory work queue, timers and engine events (a node reacts to the events of the
// changes it made itself).
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

const nodeId = process.env.NODE_ID;
const timeoutMs = Number(process.env.TIMEOUT_MS ?? 60_000);
let store;

class Service {}

/** The adapter of every test process: one call out, one answer back (or a timeout). */
class JobAdapter {
  async callService() {
    await this.service.call({ instanceId: this.instanceId });
  }
  // The handler's side effect goes to a table keyed by the instance, idempotent by the delivery
  // id (handlers run at least once: recovery re-runs a dead node's delivery with the same id).
  // A second delivery for one instance (another id) would fail here and show up as
  // handler-failed.
  async answered(answer, delivery) {
    // Raw SQL on purpose: test_side_effect is the handler's own table, not a PSI record.
    const rows = await store.dataSource.query(
      `INSERT INTO test_side_effect ("instanceId", node, "messageId", "deliveryId", runs)
       VALUES ($1, $2, $3, $4, 1)
       ON CONFLICT ("instanceId") DO UPDATE SET runs = test_side_effect.runs + 1
       WHERE test_side_effect."deliveryId" = EXCLUDED."deliveryId"
       RETURNING runs`,
      [answer.instanceId, nodeId, answer.messageId, delivery.deliveryId],
    );
    if (rows.length === 0) throw new Error(`a second delivery for ${answer.instanceId}`);
    // The node that ran the handler (not part of the answer: a redelivery to another node
    // carries the same content, as a broker's does).
    this.answeredBy = nodeId;
    return 'answered';
  }
}
Input()(JobAdapter.prototype, 'instanceId');
Output()(JobAdapter.prototype, 'answeredBy');
UseService(Service)(JobAdapter.prototype, 'service');
OnResponse('answered', {
  waitState: 'await-answer',
  timeoutMs,
  timeoutTransition: 'timeout',
})(JobAdapter.prototype, 'answered');
ServiceAdapter({ step: 'call', service: 'svc' })(JobAdapter);

const jobProcess = defineProcess({
  id: 'job',
  start: 'call',
  steps: {
    call: { kind: 'service', next: 'await-answer' },
    'await-answer': {
      kind: 'wait',
      transitions: { answered: 'answered', timeout: 'timed-out' },
    },
    answered: { kind: 'end' },
    'timed-out': { kind: 'end' },
  },
});

const send = (message) => {
  if (process.connected) process.send(message);
};

async function main() {
  store = await PsiStore.open({
    url: process.env.PSI_URL,
    schema: process.env.PSI_SCHEMA,
    poolSize: 8,
    migrate: false,
  });
  const engine = new ReferenceEngine({
    definitions: [jobProcess],
    stateRepository: store.engineStates(),
    cacheSize: 0,
    onError: (error) => send({ type: 'problem', level: 'engine', message: String(error) }),
  });
  const transport = new InProcessTransport().register('svc', {
    call: (payload, context) => {
      send({
        type: 'sent',
        instanceId: payload.instanceId,
        correlationKey: context.correlationKey,
        requestId: context.requestId,
      });
      // SERVICE_HANGS=1: the service never answers the call, so the invocation stays running
      // (its lease held and renewed) for as long as this node lives.
      if (process.env.SERVICE_HANGS === '1') return new Promise(() => undefined);
      return undefined;
    },
  });
  // A node in a child process (plain JS on the built packages): not @psi/testing.
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({ svc: { transport: 'in-process', address: 'svc' } }),
    transports: [transport],
    adapters: [JobAdapter],
    nodeId,
    leaseMs: Number(process.env.LEASE_MS ?? 30_000),
    logger: {
      warn: (message, detail) => send({ type: 'problem', level: 'warn', message, detail }),
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
  if (process.env.RESTORE === '1') await engine.restore();

  process.on('message', (command) => {
    handle(command).catch((error) =>
      send({ type: 'problem', level: 'command', message: String(error?.stack ?? error) }),
    );
  });

  async function handle(command) {
    switch (command.cmd) {
      case 'start': {
        await Promise.all(
          command.ids.map(async (id) => {
            try {
              await engine.start('job', { instanceId: id }, { instanceId: id });
            } catch (error) {
              // Started before (a retried start after a node died): it exists, that is enough.
              if (error?.code !== 'PSI_ENGINE_INSTANCE_EXISTS') throw error;
            }
            send({ type: 'started', id });
          }),
        );
        return;
      }
      case 'answer': {
        const outcome = await coordinator.receive({
          messageId: command.messageId,
          event: 'answered',
          correlationKey: command.correlationKey,
          payload: { instanceId: command.instanceId, messageId: command.messageId },
          source: `parent→${nodeId}`,
        });
        send({ type: 'received', messageId: command.messageId, outcome });
        return;
      }
      case 'guard': {
        const results = await Promise.all(
          command.starts.map((s) => coordinator.guard.start(s.id, command.ttlMs, s.owner)),
        );
        send({ type: 'guarded', results });
        return;
      }
      case 'stop': {
        await coordinator.idle();
        await coordinator.close();
        await engine.stop();
        await store.close();
        send({ type: 'stopped' });
        process.disconnect();
        return;
      }
      default:
        throw new Error(`unknown command ${command.cmd}`);
    }
  }
  send({ type: 'ready', nodeId });
}

main().catch((error) => {
  send({ type: 'problem', level: 'fatal', message: String(error?.stack ?? error) });
  process.exitCode = 1;
});
