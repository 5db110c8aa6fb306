import {
  EngineSignalRejectedError,
  InMemoryEngineStateRepository,
  PsiError,
  type EngineEvent,
} from '@psi/core';
import { BpmnEnginePlugin, EngineErrorCode } from '@psi/engines';

const xml = `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="psi">
  <message id="Msg_answer" name="answer" />
  <error id="Err_rejected" errorCode="REJECTED" />
  <process id="order" isExecutable="true">
    <startEvent id="start" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="call-service" />
    <serviceTask id="call-service" />
    <sequenceFlow id="f2" sourceRef="call-service" targetRef="await-answer" />
    <receiveTask id="await-answer" messageRef="Msg_answer" />
    <boundaryEvent id="rejected" attachedToRef="await-answer"><errorEventDefinition errorRef="Err_rejected" /></boundaryEvent>
    <sequenceFlow id="f-rejected" sourceRef="rejected" targetRef="end-rejected" />
    <endEvent id="end-rejected" />
    <sequenceFlow id="f3" sourceRef="await-answer" targetRef="route" />
    <exclusiveGateway id="route" />
    <sequenceFlow id="f-approved" sourceRef="route" targetRef="end-approved">
      <conditionExpression xsi:type="tFormalExpression" language="javascript">next(null, environment.variables.psiTransition === 'approved')</conditionExpression>
    </sequenceFlow>
    <sequenceFlow id="f-other" sourceRef="route" targetRef="await-review">
      <conditionExpression xsi:type="tFormalExpression" language="javascript">next(null, environment.variables.psiTransition !== 'approved')</conditionExpression>
    </sequenceFlow>
    <userTask id="await-review" />
    <sequenceFlow id="f4" sourceRef="await-review" targetRef="end-approved" />
    <endEvent id="end-approved" />
  </process>
</definitions>`;

describe('BpmnEnginePlugin', () => {
  let repository: InMemoryEngineStateRepository;
  let engine: BpmnEnginePlugin;
  let events: EngineEvent[];

  beforeEach(() => {
    repository = new InMemoryEngineStateRepository();
    engine = new BpmnEnginePlugin({ definitions: [xml], stateRepository: repository });
    events = [];
    engine.subscribe((e) => events.push(e));
  });
  afterEach(() => engine.stop());

  it('raises service-step-entered for a service task and keeps its one Engine live between signals', async () => {
    const id = await engine.start('order', { amount: 5 });
    expect(events).toEqual([
      {
        type: 'service-step-entered',
        instanceId: id,
        step: 'call-service',
        activationId: expect.any(String),
      },
    ]);
    expect(await engine.getWaitStates(id)).toEqual(['call-service']);
    expect(engine.liveInstances).toBe(1);

    await engine.signal(id, 'call-service', { variables: { orderNumber: 'PO-1' } });
    expect(await engine.getWaitStates(id)).toEqual(['await-answer']);
    expect(await engine.getVariables(id)).toEqual({ amount: 5, orderNumber: 'PO-1' });
    expect(events.at(-1)).toEqual({
      type: 'wait-state-entered',
      instanceId: id,
      waitState: 'await-answer',
      activationId: expect.any(String),
      awaits: [{ event: 'answer' }],
    });
    expect(engine.liveInstances).toBe(1);
    await engine.signal(id, 'await-answer', { transition: 'approved' });
    expect((await engine.whenEnded(id)).status).toBe('completed');
    expect(engine.liveInstances).toBe(0);
  });

  it('follows the transition through psiTransition conditions', async () => {
    const id = await engine.start('order');
    await engine.signal(id, 'call-service');
    await engine.signal(id, 'await-answer', {
      transition: 'approved',
      variables: { answer: 'yes' },
    });
    const final = await engine.whenEnded(id);
    expect(final).toMatchObject({ status: 'completed', variables: { answer: 'yes' } });
    expect(events.at(-1)).toEqual({ type: 'instance-ended', instanceId: id, outcome: 'completed' });

    const other = await engine.start('order');
    await engine.signal(other, 'call-service');
    await engine.signal(other, 'await-answer', { transition: 'unsure' });
    expect(await engine.getWaitStates(other)).toEqual(['await-review']);
  });

  it('refuses a signal for a state the instance is not in, naming where it is', async () => {
    const id = await engine.start('order');
    const error = await engine.signal(id, 'await-answer').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineSignalRejectedError);
    expect((error as EngineSignalRejectedError).currentStates).toEqual(['call-service']);
  });

  it('throws a fault as a BPMN error caught by a matching boundary event, else aborts', async () => {
    const caught = await engine.start('order');
    await engine.signal(caught, 'call-service');
    await engine.signal(caught, 'await-answer', { fault: { code: 'REJECTED', message: 'no' } });
    expect((await engine.whenEnded(caught)).status).toBe('completed');

    const aborted = await engine.start('order');
    await engine.signal(aborted, 'call-service');
    await engine.signal(aborted, 'await-answer', {
      fault: { code: 'PSI_TIMEOUT', message: 'late' },
    });
    expect(await engine.whenEnded(aborted)).toMatchObject({
      status: 'aborted',
      fault: { code: 'PSI_TIMEOUT' },
    });
  });

  it('restores waiting instances in a new plugin and re-emits their events', async () => {
    const id = await engine.start('order');
    const [entered] = events;
    await engine.stop();

    const second = new BpmnEnginePlugin({ definitions: [xml], stateRepository: repository });
    const replayed: EngineEvent[] = [];
    second.subscribe((e) => replayed.push(e));
    await second.restore();
    expect(replayed).toEqual([{ ...entered, resumed: true }]);
    await second.signal(id, 'call-service');
    await second.signal(id, 'await-answer', { transition: 'approved' });
    expect((await second.whenEnded(id)).status).toBe('completed');
    await second.stop();
  });

  describe('event-based gateway', () => {
    const gatewayXml = `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs-gw" targetNamespace="psi">
  <message id="Msg_delivered" name="delivered" />
  <message id="Msg_returned" name="returned" />
  <process id="courier" isExecutable="true">
    <startEvent id="start" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="await-outcome" />
    <eventBasedGateway id="await-outcome" />
    <sequenceFlow id="f2" sourceRef="await-outcome" targetRef="on-delivered" />
    <sequenceFlow id="f3" sourceRef="await-outcome" targetRef="on-returned" />
    <intermediateCatchEvent id="on-delivered"><messageEventDefinition messageRef="Msg_delivered" /></intermediateCatchEvent>
    <intermediateCatchEvent id="on-returned" name="sent back"><messageEventDefinition messageRef="Msg_returned" /></intermediateCatchEvent>
    <sequenceFlow id="f4" sourceRef="on-delivered" targetRef="end" />
    <sequenceFlow id="f5" sourceRef="on-returned" targetRef="refund" />
    <userTask id="refund" />
    <sequenceFlow id="f6" sourceRef="refund" targetRef="end" />
    <endEvent id="end" />
  </process>
</definitions>`;

    it('is a wait state left through the catch event its transition names', async () => {
      await engine.deploy(gatewayXml);
      const id = await engine.start('courier');
      expect(await engine.getWaitStates(id)).toEqual([
        'await-outcome',
        'on-delivered',
        'on-returned',
      ]);

      await engine.signal(id, 'await-outcome', { transition: 'returned', variables: { why: 'x' } });
      expect(await engine.getWaitStates(id)).toEqual(['refund']);
      expect(await engine.getVariables(id)).toEqual({ why: 'x' });

      const byName = await engine.start('courier');
      await engine.signal(byName, 'await-outcome', { transition: 'sent back' });
      expect(await engine.getWaitStates(byName)).toEqual(['refund']);

      const byId = await engine.start('courier');
      await engine.signal(byId, 'await-outcome', { transition: 'on-delivered' });
      expect((await engine.whenEnded(byId)).status).toBe('completed');
      // The two instances waiting at "refund" keep their Engines; the ended one has none.
      expect(engine.liveInstances).toBe(2);
    });

    it('refuses a transition that names none of its events, and does not move', async () => {
      await engine.deploy(gatewayXml);
      const id = await engine.start('courier');
      const error = await engine
        .signal(id, 'await-outcome', { transition: 'lost', variables: { why: 'x' } })
        .catch((e: unknown) => e);
      expect(PsiError.is(error) && error.code).toBe(EngineErrorCode.TransitionUnknown);
      expect((error as Error).message).toContain('delivered');
      expect(await engine.getWaitStates(id)).toEqual([
        'await-outcome',
        'on-delivered',
        'on-returned',
      ]);
      expect(await engine.getVariables(id)).toEqual({});
    });
  });
});
