import {
  BusinessError,
  Input,
  OnResponse,
  Output,
  ServiceAdapter,
  UseService,
  type Coordinator,
} from '@psi/core';
import { defineProcess } from '@psi/engines';
import { PSI_SERVICE_TAG } from '@psi/engines/xstate';
import {
  bpmnEngine,
  PsiTestEnvironment,
  referenceEngine,
  ScriptedService,
  type TestEngineFactory,
} from '@psi/testing';
import { xstateEngine } from '@psi/testing/xstate';
import { createMachine } from 'xstate';

// Issue 16.4: a BusinessError thrown by an @OnResponse handler goes to the process, as the
// README and the class's doc say: as its transition when it names one, else as a fault with its
// code that the process catches (a BPMN error boundary event, a reference step's `faults`, an
// XState `fault.<code>` event). Before, it became a `handler-failed` dead letter and the
// instance stayed put. On all three plugins, through the real coordinator in a PsiTestEnvironment.

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

const plugins: Record<string, TestEngineFactory> = {
  reference: referenceEngine([referenceProcess]),
  'bpmn-engine': bpmnEngine([bpmnProcess]),
  xstate: xstateEngine([xstateMachine]),
};

describe.each(Object.keys(plugins))('a BusinessError from a response handler (%s)', (name) => {
  let env: PsiTestEnvironment;
  let coordinator: Coordinator;
  let risk: ScriptedService;

  beforeEach(async () => {
    risk = new ScriptedService('risk');
    env = await PsiTestEnvironment.create({
      engine: plugins[name],
      adapters: [AssessAdapter],
      services: { risk },
    });
    coordinator = env.coordinator;
  });
  afterEach(async () => {
    const problems = [...env.problems];
    await env.dispose();
    expect(problems).toEqual([]);
  });

  async function assess(caseId: string, score: number): Promise<string> {
    const id = await env.start('assessment', { caseId });
    await env.whenWaitingAt(id, 'await-assessment');
    const call = risk.lastCall('assess');
    expect(await env.answer({ event: 'assessed', call, payload: { score } })).toMatchObject({
      status: 'delivered',
      instanceId: id,
    });
    return id;
  }

  it('without a transition: a fault with its code, which the process catches', async () => {
    const id = await assess('K-1', 95);
    expect(await env.engine.getWaitStates(id)).toEqual(['rejected']);
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
    expect(await env.engine.getWaitStates(id)).toEqual(['reviewing']);
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
    await env.whenEnded(id);
    expect(await env.variables(id)).toMatchObject({ verdict: 'score 10' });
  });
});
