import 'reflect-metadata';
import { InProcessTransport } from '@psi/adapters';
import {
  Coordinator,
  Input,
  OnResponse,
  Output,
  PsiStore,
  ServiceAdapter,
  UseService,
  type OnResponseOptions,
  type ResponseContext,
} from '@psi/core';
import { defineProcess, ReferenceEngine, type ProcessDefinition } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import {
  EFFECT_TABLE,
  LONG_TIMEOUT_MS,
  LOOP_VISITS,
  RACE_TIMEOUT_MS,
  type NodeReport,
  type Scenario,
  type SoakNodeParams,
  type SupervisorCommand,
} from './soak-protocol';

/** An adapter class, as the coordinator takes it. */
type Constructor = new (...args: never[]) => object;

/**
 * One PSI node of the soak test, in its own process: a Coordinator and the reference engine on
 * the soak's store (SQLite file or PostgreSQL schema), an in-process service that reports every
 * request to the supervisor (who answers it, like a remote service would, and retries until
 * the node acknowledges), and handlers whose side effect is a row keyed by their delivery id.
 * The supervisor SIGKILLs it at random moments and starts another on the same store.
 *
 * Run by soak-supervisor.ts: `node soak-node.js '<SoakNodeParams as JSON>'`.
 */

const params = JSON.parse(process.argv[2] ?? '{}') as SoakNodeParams;

const report = (message: NodeReport): void => {
  if (process.connected) process.send?.(message);
};

/** Where the handlers' side effects go: outside PSI's transactions, like a remote system. */
interface Effects {
  write(row: {
    deliveryId: string;
    instanceId: string;
    visit: number;
    event: string;
  }): Promise<void>;
  close(): Promise<void>;
}

let effects: Effects;

abstract class SoakService {
  abstract call(request: {
    instanceId: string;
    scenario: Scenario;
    visit: number;
    orderNo: string;
  }): Promise<void>;
}

/** The adapter of one scenario's service step: one call out, its handlers write the side effect. */
function scenarioAdapter(
  scenario: Scenario,
  handlers: Array<{
    event: string;
    options: OnResponseOptions;
    transition: (visit: number) => string;
  }>,
): Constructor {
  class Adapter {
    instanceId!: string;
    orderNo!: string;
    visit?: number;
    service!: SoakService;

    async callService(): Promise<void> {
      this.visit = (this.visit ?? 0) + 1;
      await this.service.call({
        instanceId: this.instanceId,
        scenario,
        visit: this.visit,
        orderNo: this.orderNo,
      });
    }
  }
  Object.defineProperty(Adapter, 'name', { value: `Soak_${scenario}_Adapter` });
  const prototype = Adapter.prototype as unknown as Record<string, unknown>;
  Input()(prototype, 'instanceId');
  Input()(prototype, 'orderNo');
  Input()(prototype, 'visit');
  Output()(prototype, 'visit');
  UseService(SoakService)(prototype, 'service');
  for (const handler of handlers) {
    const method = `on_${handler.event.replace(/\W/g, '_')}`;
    prototype[method] = async function (
      this: Adapter,
      _answer: unknown,
      delivery: ResponseContext,
    ): Promise<string> {
      const visit = this.visit ?? 0;
      await effects.write({
        deliveryId: delivery.deliveryId,
        instanceId: delivery.instanceId,
        visit,
        event: handler.event,
      });
      return handler.transition(visit);
    };
    OnResponse(handler.event, handler.options)(prototype, method, {});
  }
  ServiceAdapter({ step: `${scenario}-call`, service: 'soak' })(Adapter);
  return Adapter;
}

const long = { timeoutMs: LONG_TIMEOUT_MS, timeoutTransition: 'timeout' };
const adapters: Constructor[] = [
  scenarioAdapter('ck', [
    {
      event: 'ck-answered',
      options: { waitState: 'ck-await', ...long },
      transition: () => 'answered',
    },
  ]),
  scenarioAdapter('bk', [
    {
      event: 'bk-answered',
      options: {
        waitState: 'bk-await',
        correlationKey: false,
        businessKey: { orderNo: 'orderNo' },
        ...long,
      },
      transition: () => 'answered',
    },
  ]),
  scenarioAdapter('early', [
    {
      event: 'early-answered',
      options: { waitState: 'early-await', ...long },
      transition: () => 'answered',
    },
  ]),
  scenarioAdapter('group', [
    {
      event: 'group-accepted',
      options: { waitState: 'group-await', group: 'outcome', ...long },
      transition: () => 'accepted',
    },
    {
      event: 'group-rejected',
      options: { waitState: 'group-await', group: 'outcome' },
      transition: () => 'rejected',
    },
  ]),
  scenarioAdapter('race', [
    {
      event: 'race-answered',
      options: {
        waitState: 'race-await',
        timeoutMs: RACE_TIMEOUT_MS,
        timeoutTransition: 'timeout',
      },
      transition: () => 'answered',
    },
  ]),
  scenarioAdapter('loop', [
    {
      event: 'loop-answered',
      options: { waitState: 'loop-await', ...long },
      transition: (visit) => (visit < LOOP_VISITS ? 'again' : 'answered'),
    },
  ]),
];

const end = { kind: 'end' } as const;
const definitions: ProcessDefinition[] = [
  defineProcess({
    id: 'soak-ck',
    start: 'ck-call',
    steps: {
      'ck-call': { kind: 'service', next: 'ck-await' },
      'ck-await': { kind: 'wait', transitions: { answered: 'done', timeout: 'timed-out' } },
      done: end,
      'timed-out': end,
    },
  }),
  defineProcess({
    id: 'soak-bk',
    start: 'bk-call',
    steps: {
      'bk-call': { kind: 'service', next: 'bk-await' },
      'bk-await': { kind: 'wait', transitions: { answered: 'done', timeout: 'timed-out' } },
      done: end,
      'timed-out': end,
    },
  }),
  defineProcess({
    id: 'soak-early',
    start: 'early-call',
    steps: {
      'early-call': { kind: 'service', next: 'early-pause' },
      // The answer comes while the instance sits here: it is parked, then released.
      'early-pause': { kind: 'timer', durationMs: 300, next: 'early-await' },
      'early-await': { kind: 'wait', transitions: { answered: 'done', timeout: 'timed-out' } },
      done: end,
      'timed-out': end,
    },
  }),
  defineProcess({
    id: 'soak-group',
    start: 'group-call',
    steps: {
      'group-call': { kind: 'service', next: 'group-await' },
      'group-await': {
        kind: 'wait',
        transitions: { accepted: 'shipped', rejected: 'refunded', timeout: 'timed-out' },
      },
      shipped: end,
      refunded: end,
      'timed-out': end,
    },
  }),
  defineProcess({
    id: 'soak-race',
    start: 'race-call',
    steps: {
      'race-call': { kind: 'service', next: 'race-await' },
      'race-await': { kind: 'wait', transitions: { answered: 'done', timeout: 'timed-out' } },
      done: end,
      'timed-out': end,
    },
  }),
  defineProcess({
    id: 'soak-loop',
    start: 'loop-call',
    steps: {
      'loop-call': { kind: 'service', next: 'loop-await' },
      'loop-await': {
        kind: 'wait',
        transitions: { again: 'loop-call', answered: 'done', timeout: 'timed-out' },
      },
      done: end,
      'timed-out': end,
    },
  }),
];

async function openEffects(store: PsiStore): Promise<Effects> {
  const upsert =
    `INSERT INTO ${EFFECT_TABLE} ("deliveryId", "instanceId", visit, event, runs) VALUES ($1, $2, $3, $4, 1) ` +
    `ON CONFLICT ("deliveryId") DO UPDATE SET runs = ${EFFECT_TABLE}.runs + 1`;
  if (params.store.kind === 'postgres') {
    return {
      write: async (r) => {
        await store.dataSource.query(upsert, [r.deliveryId, r.instanceId, r.visit, r.event]);
      },
      close: async () => undefined,
    };
  }
  // A file of its own: PSI's SQLite connection runs PSI's transactions.
  const file = await PsiStore.open({ sqlitePath: params.store.effectsPath, migrate: false });
  const sql = upsert.replace(/\$\d/g, '?');
  return {
    write: async (r) => {
      await file.dataSource.query(sql, [r.deliveryId, r.instanceId, r.visit, r.event]);
    },
    close: () => file.close(),
  };
}

async function main(): Promise<void> {
  const store = await PsiStore.open(
    params.store.kind === 'postgres'
      ? { url: params.store.url, schema: params.store.schema, poolSize: 8, migrate: false }
      : { sqlitePath: params.store.sqlitePath, migrate: false },
  );
  effects = await openEffects(store);
  const engine = new ReferenceEngine({
    definitions,
    stateRepository: store.engineStates(),
    onError: (error) => report({ type: 'problem', level: 'engine', message: String(error) }),
  });
  const transport = new InProcessTransport().register('soak', {
    call: (payload, context) => {
      const request = payload as { instanceId: string; scenario: Scenario; visit: number };
      report({
        type: 'sent',
        instanceId: request.instanceId,
        scenario: request.scenario,
        visit: request.visit,
        correlationKey: context.correlationKey,
        requestId: context.requestId,
      });
      return undefined;
    },
  });
  let delivered = false;
  // Wired by hand, not with @psi/testing: one node process of the soak run, on real time.
  const coordinator = await Coordinator.create({
    store,
    engine,
    registry: new StaticRegistry({ soak: { transport: 'in-process', address: 'soak' } }),
    transports: [transport],
    adapters,
    nodeId: params.nodeId,
    leaseMs: params.leaseMs,
    onTrace: (event) => {
      if (event.kind !== 'delivered' || delivered) return;
      delivered = true;
      report({ type: 'first-delivery' });
    },
    logger: {
      warn: (message, detail) =>
        report({ type: 'problem', level: 'warn', message, detail: JSON.stringify(detail) }),
      error: (message, detail) =>
        report({ type: 'problem', level: 'error', message, detail: JSON.stringify(detail) }),
      info: (message, detail) => {
        if (message.startsWith('Recovery at start')) report({ type: 'recovered', message, detail });
      },
    },
  });
  await coordinator.start();
  await engine.restore();

  process.on('message', (raw) => {
    const command = raw as SupervisorCommand;
    handle(command).catch((error: unknown) =>
      report({
        type: 'problem',
        level: 'command',
        message: String((error as Error)?.stack ?? error),
      }),
    );
  });

  async function handle(command: SupervisorCommand): Promise<void> {
    switch (command.cmd) {
      case 'start':
        await Promise.all(
          command.instances.map(async ({ id, scenario }) => {
            try {
              await engine.start(
                `soak-${scenario}`,
                { instanceId: id, orderNo: id },
                { instanceId: id },
              );
            } catch (error) {
              // Started before a kill (the supervisor retries starts it saw no answer to).
              if ((error as { code?: string }).code !== 'PSI_ENGINE_INSTANCE_EXISTS') throw error;
            }
            report({ type: 'started', id });
          }),
        );
        return;
      case 'answer': {
        const outcome = await coordinator.receive({
          messageId: command.messageId,
          sender: 'soak-sender',
          event: command.event,
          correlationKey: command.correlationKey,
          payload: command.payload,
          source: 'soak',
        });
        report({
          type: 'received',
          messageId: command.messageId,
          outcome: {
            status: outcome.status,
            ...('reason' in outcome ? { reason: outcome.reason } : {}),
          },
        });
        return;
      }
      case 'stop':
        await coordinator.idle();
        await coordinator.close();
        await engine.stop();
        await effects.close();
        await store.close();
        report({ type: 'stopped' });
        process.disconnect();
        return;
    }
  }
  report({ type: 'ready', nodeId: params.nodeId ?? '' });
}

main().catch((error: unknown) => {
  report({ type: 'problem', level: 'fatal', message: String((error as Error)?.stack ?? error) });
  process.exitCode = 1;
});
