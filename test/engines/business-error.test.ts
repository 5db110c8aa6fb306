import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InProcessTransport } from '@psi/adapters';
import {
  BusinessError,
  Coordinator,
  Input,
  OnResponse,
  Output,
  PsiStore,
  ServiceAdapter,
  UseService,
  type ProcessEngine,
} from '@psi/core';
import { BpmnEnginePlugin, ReferenceEngine, defineProcess } from '@psi/engines';
import { PSI_SERVICE_TAG, XStatePlugin } from '@psi/engines/xstate';
import { StaticRegistry } from '@psi/registry';
import { createMachine } from 'xstate';
import { waitUntil } from '../correlation/fixtures';

// Issue 16.4: a BusinessError thrown by an @OnResponse handler goes to the process, as the
// README and the class's doc say: as its transition when it names one, else as a fault with its
// code that the process catches (a BPMN error boundary event, a reference step's `faults`, an
// XState `fault.<code>` event). Before, it became a `handler-failed` dead letter and the
// instance stayed put. On all three plugins, through the real coordinator on a SQLite file.

abstract class RiskService {
  abstract assess(request: { caseId: string }): Promise<void>;
}

@ServiceAdapter({ step: 'assess', service: 'risk' })
class AssessAdapter {
  @Input() caseId!: string;
  @Output() verdict?: string;
  @UseService(RiskService) risk!: RiskService;

  async callService(): Promise<void> {
    await this.risk.assess({ caseId: this.caseId });
  }

  @OnResponse('assessed', { waitState: 'await-assessment' })
  assessed(answer: { score: number }): string {
    this.verdict = `score ${answer.score}`;
    if (answer.score > 90) throw new BusinessError('RISK_TOO_HIGH', 'the score is above 90');
    if (answer.score > 50)
      throw new BusinessError('NEEDS_REVIEW', 'a person looks at it', 'review');
    return 'approved';
  }
}

const referenceProcess = defineProcess({
  id: 'assessment',
  start: 'assess',
  steps: {
    assess: { kind: 'service', next: 'await-assessment' },
    'await-assessment': {
      kind: 'wait',
      transitions: { approved: 'done', review: 'reviewing' },
      faults: { RISK_TOO_HIGH: 'rejected' },
    },
    reviewing: { kind: 'wait', next: 'done' },
    rejected: { kind: 'wait', next: 'done' },
    done: { kind: 'end' },
  },
});

const bpmnProcess = `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="assessment-defs" targetNamespace="psi">
  <message id="Msg_assessed" name="assessed" />
  <error id="Err_risk" errorCode="RISK_TOO_HIGH" />
  <process id="assessment" isExecutable="true">
    <startEvent id="start" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="assess" />
    <serviceTask id="assess" />
    <sequenceFlow id="f2" sourceRef="assess" targetRef="await-assessment" />
    <receiveTask id="await-assessment" messageRef="Msg_assessed" />
    <boundaryEvent id="too-risky" attachedToRef="await-assessment"><errorEventDefinition errorRef="Err_risk" /></boundaryEvent>
    <sequenceFlow id="f-risky" sourceRef="too-risky" targetRef="rejected" />
    <userTask id="rejected" />
    <sequenceFlow id="f-rejected-end" sourceRef="rejected" targetRef="end" />
    <sequenceFlow id="f3" sourceRef="await-assessment" targetRef="route" />
    <exclusiveGateway id="route" />
    <sequenceFlow id="f-review" sourceRef="route" targetRef="reviewing">
      <conditionExpression xsi:type="tFormalExpression" language="javascript">next(null, environment.variables.psiTransition === 'review')</conditionExpression>
    </sequenceFlow>
    <sequenceFlow id="f-approved" sourceRef="route" targetRef="end">
      <conditionExpression xsi:type="tFormalExpression" language="javascript">next(null, environment.variables.psiTransition !== 'review')</conditionExpression>
    </sequenceFlow>
    <userTask id="reviewing" />
    <sequenceFlow id="f-reviewed" sourceRef="reviewing" targetRef="end" />
    <endEvent id="end" />
  </process>
</definitions>`;

const xstateMachine = createMachine({
  id: 'assessment',
  initial: 'assess',
  states: {
    assess: { tags: [PSI_SERVICE_TAG], on: { done: 'await-assessment' } },
    'await-assessment': {
      on: { approved: 'done', review: 'reviewing', 'fault.RISK_TOO_HIGH': 'rejected' },
    },
    reviewing: { on: { done: 'done' } },
    rejected: { on: { done: 'done' } },
    done: { type: 'final' },
  },
});

interface Plugin {
  engine: ProcessEngine;
  start(variables: Record<string, unknown>): Promise<string>;
  stop(): Promise<void>;
}

const plugins: Record<string, (store: PsiStore) => Plugin> = {
  reference: (store) => {
    const engine = new ReferenceEngine({
      definitions: [referenceProcess],
      stateRepository: store.engineStates(),
    });
    return { engine, start: (v) => engine.start('assessment', v), stop: () => engine.stop() };
  },
  'bpmn-engine': (store) => {
    const engine = new BpmnEnginePlugin({
      definitions: [bpmnProcess],
      stateRepository: store.engineStates(),
    });
    return { engine, start: (v) => engine.start('assessment', v), stop: () => engine.stop() };
  },
  xstate: (store) => {
    const engine = new XStatePlugin({
      definitions: [xstateMachine],
      stateRepository: store.engineStates(),
    });
    return { engine, start: (v) => engine.start('assessment', v), stop: () => engine.stop() };
  },
};

describe.each(Object.keys(plugins))('a BusinessError from a response handler (%s)', (name) => {
  let dir: string;
  let store: PsiStore;
  let plugin: Plugin;
  let coordinator: Coordinator;
  const keys = new Map<string, string>();
  const problems: unknown[] = [];

  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-business-error-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(async () => {
    store = await PsiStore.open({ sqlitePath: path.join(dir, `${name}-${Date.now()}.sqlite`) });
    plugin = plugins[name](store);
    coordinator = await Coordinator.create({
      store,
      engine: plugin.engine,
      registry: new StaticRegistry({ risk: { transport: 'in-process', address: 'risk' } }),
      transports: [
        new InProcessTransport().register('risk', {
          assess: (payload, context) => {
            keys.set((payload as { caseId: string }).caseId, context.correlationKey);
            return undefined;
          },
        }),
      ],
      adapters: [AssessAdapter],
      logger: { warn: (m, d) => problems.push([m, d]), error: (m, d) => problems.push([m, d]) },
    });
    await coordinator.start();
  });
  afterEach(async () => {
    await coordinator.close();
    await plugin.stop();
    await store.close();
    expect(problems.splice(0)).toEqual([]);
  });

  async function assess(caseId: string, score: number): Promise<string> {
    const id = await plugin.start({ caseId });
    await waitUntil(
      async () => (await plugin.engine.getWaitStates(id)).includes('await-assessment'),
      `${caseId} waits for its assessment`,
    );
    expect(
      await coordinator.receive({
        event: 'assessed',
        correlationKey: keys.get(caseId),
        payload: { score },
      }),
    ).toMatchObject({ status: 'delivered', instanceId: id });
    return id;
  }

  it('without a transition: a fault with its code, which the process catches', async () => {
    const id = await assess('K-1', 95);
    expect(await plugin.engine.getWaitStates(id)).toEqual(['rejected']);
    expect(await coordinator.deadLetters.list()).toEqual([]);
    const delivered = (await coordinator.auditTrail(id)).filter((e) => e.kind === 'delivered');
    expect(delivered.map((e) => e.detail)).toEqual([
      expect.objectContaining({
        fault: 'RISK_TOO_HIGH',
        businessError: {
          code: 'RISK_TOO_HIGH',
          message: 'the score is above 90 [RISK_TOO_HIGH]',
        },
      }),
    ]);
  });

  it('with a transition: the transition is taken', async () => {
    const id = await assess('K-2', 70);
    expect(await plugin.engine.getWaitStates(id)).toEqual(['reviewing']);
    expect(await coordinator.deadLetters.list()).toEqual([]);
    const delivered = (await coordinator.auditTrail(id)).filter((e) => e.kind === 'delivered');
    expect(delivered.map((e) => e.detail)).toEqual([
      expect.objectContaining({
        transition: 'review',
        businessError: { code: 'NEEDS_REVIEW', message: 'a person looks at it [NEEDS_REVIEW]' },
      }),
    ]);
  });

  it('a handler that returns normally still takes its transition', async () => {
    const id = await assess('K-3', 10);
    await waitUntil(
      async () => (await plugin.engine.getWaitStates(id)).length === 0,
      'the instance ended',
    );
    expect(await plugin.engine.getVariables(id)).toMatchObject({ verdict: 'score 10' });
  });
});
