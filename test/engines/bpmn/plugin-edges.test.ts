import {
  InMemoryEngineStateRepository,
  PsiError,
  type EngineEvent,
  type EngineStateRepository,
} from '@psi/core';
import {
  BpmnEnginePlugin,
  EngineErrorCode,
  type BpmnEnginePluginOptions,
  type BpmnInstanceRecord,
} from '@psi/engines';
import { eventually } from './bpmn-world';

// The bpmn-engine plugin's answers to issue 22's items that live in the plugin alone: message
// and signal start events (4), bpmn-engine's options (5), start() and stop() when bpmn-engine
// throws (8), documents with several executable processes (9), an instance that can neither
// wait nor move is reported (10); and its live Engines (issue 17: no more Engines rebuilt per
// instance than its waits need).

const doc = (body: string, roots = '') => `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="edges" targetNamespace="psi">${roots}
  ${body}
</definitions>`;

const plugins: BpmnEnginePlugin[] = [];
function plugin(options: BpmnEnginePluginOptions = {}): BpmnEnginePlugin {
  const created = new BpmnEnginePlugin({ onError: () => undefined, ...options });
  plugins.push(created);
  return created;
}
afterEach(async () => {
  for (const p of plugins.splice(0)) await p.stop();
});

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('message and signal start events (issue 22, item 4)', () => {
  const source = doc(
    `<process id="by-message" isExecutable="true">
      <startEvent id="on-order"><messageEventDefinition messageRef="Msg_order" /></startEvent>
      <sequenceFlow id="f1" sourceRef="on-order" targetRef="handle" />
      <userTask id="handle" />
      <sequenceFlow id="f2" sourceRef="handle" targetRef="done" />
      <endEvent id="done" />
    </process>
    <process id="by-signal" isExecutable="true">
      <startEvent id="on-alarm"><signalEventDefinition signalRef="Sig_alarm" /></startEvent>
      <sequenceFlow id="g1" sourceRef="on-alarm" targetRef="respond" />
      <userTask id="respond" />
    </process>`,
    '<message id="Msg_order" name="order-placed" /><signal id="Sig_alarm" name="alarm" />',
  );

  it('starts the process whose message start event catches the message, with its payload', async () => {
    const engine = plugin({ definitions: [source] });
    const id = await engine.startByMessage(
      'order-placed',
      { orderId: 'O-1' },
      { payload: { lines: 2 } },
    );
    expect(await engine.getWaitStates(id)).toEqual(['handle']);
    expect(await engine.getVariables(id)).toEqual({ orderId: 'O-1' });
    const byId = await engine.startByMessage('alarm');
    expect((await engine.getInstance(byId)).definitionId).toBe('by-signal');
    expect(await engine.getWaitStates(byId)).toEqual(['respond']);
  });

  it('waits at a message start event when started plainly: a wait state declaring its message', async () => {
    const engine = plugin({ definitions: [source] });
    const events: EngineEvent[] = [];
    engine.subscribe((e) => events.push(e));
    const id = await engine.start('by-message');
    expect(await engine.getWaitStates(id)).toEqual(['on-order']);
    expect(events).toContainEqual(
      expect.objectContaining({ waitState: 'on-order', awaits: [{ event: 'order-placed' }] }),
    );
    await engine.signal(id, 'on-order');
    expect(await engine.getWaitStates(id)).toEqual(['handle']);
  });

  it('refuses a message no deployed process starts on', async () => {
    const engine = plugin({ definitions: [source] });
    const error = await errorOf(engine.startByMessage('nobody-listens'));
    expect(PsiError.is(error) && error.code).toBe(EngineErrorCode.MessageStartUnknown);
  });
});

describe("bpmn-engine's options (issue 22, item 5)", () => {
  const source = doc(`<process id="classify" isExecutable="true">
    <startEvent id="start" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="route" />
    <exclusiveGateway id="route" default="f-regular" />
    <sequenceFlow id="f-vip" sourceRef="route" targetRef="vip">
      <conditionExpression xsi:type="tFormalExpression" language="javascript">next(null, environment.services.isVip(environment.variables.customer))</conditionExpression>
    </sequenceFlow>
    <sequenceFlow id="f-regular" sourceRef="route" targetRef="regular" />
    <userTask id="vip" />
    <userTask id="regular" />
  </process>`);

  it('hands services to conditions (without them the default flow was taken silently)', async () => {
    const engine = plugin({
      definitions: [source],
      services: { isVip: (customer: string) => customer === 'ACME' },
    });
    expect(
      await engine.getWaitStates(await engine.start('classify', { customer: 'ACME' })),
    ).toEqual(['vip']);
    expect(await engine.getWaitStates(await engine.start('classify', { customer: 'Bob' }))).toEqual(
      ['regular'],
    );
  });

  it('runs service tasks that serviceSteps leaves to bpmn-engine with their own implementation', async () => {
    const notified: string[] = [];
    const engine = plugin({
      definitions: [
        doc(`<process id="notify" isExecutable="true">
          <startEvent id="start" />
          <sequenceFlow id="f1" sourceRef="start" targetRef="send-mail" />
          <serviceTask id="send-mail" implementation="\${environment.services.mail}" />
          <sequenceFlow id="f2" sourceRef="send-mail" targetRef="call-erp" />
          <serviceTask id="call-erp" />
        </process>`),
      ],
      services: {
        mail: (_message: unknown, next: (error: null) => void) => {
          notified.push('mail');
          next(null);
        },
      },
      serviceSteps: (task) => task.id !== 'send-mail',
    });
    const id = await engine.start('notify');
    await eventually('the mail is sent and the ERP step reached', async () =>
      (await engine.getWaitStates(id)).includes('call-erp') ? true : undefined,
    );
    expect(notified).toEqual(['mail']);
  });
});

describe('start() when bpmn-engine throws while it runs (issue 22, item 8)', () => {
  it('refuses at deploy a document whose sequence flows have no id, naming them', async () => {
    const engine = plugin();
    const error = await errorOf(
      engine.deploy(
        doc(`<process id="no-ids" isExecutable="true">
          <startEvent id="start" /><sequenceFlow sourceRef="start" targetRef="task" /><userTask id="task" />
        </process>`),
      ),
    );
    expect(PsiError.is(error) && error.code).toBe(EngineErrorCode.DefinitionInvalid);
    expect((error as Error).message).toContain('a sequence flow from "start" to "task" has no id');
  });

  it('returns, ends the instance failed with the engine’s error, and keeps neither the lock nor stop() waiting', async () => {
    const repository = new InMemoryEngineStateRepository();
    const engine = plugin({
      stateRepository: repository,
      definitions: [
        doc(`<process id="explodes" isExecutable="true">
          <startEvent id="start" /><sequenceFlow id="f1" sourceRef="start" targetRef="task" /><userTask id="task" />
        </process>`),
      ],
      // An extension that throws makes bpmn-engine's execute() reject with its engine left running.
      extensions: {
        explode(activity) {
          if ((activity as { id: string }).id === 'task') throw new Error('the extension broke');
        },
      },
    });
    const id = await engine.start('explodes', {}, { instanceId: 'boom-1' });
    expect(await engine.getInstance(id)).toMatchObject({
      status: 'failed',
      fault: { code: 'PSI_BPMN_ENGINE_ERROR', message: 'the extension broke' },
    });
    // The instance's lock was released: the next call on it goes through.
    await engine.setVariables(id, { seen: true });
    expect(await engine.getVariables(id)).toEqual({ seen: true });
    await engine.stop();
    expect(await record(repository, id)).toMatchObject({ status: 'failed' });
  });
});

describe('documents with several executable processes (issue 22, item 9)', () => {
  const source = doc(`<process id="first" isExecutable="true">
      <startEvent id="s1" /><sequenceFlow id="a1" sourceRef="s1" targetRef="t1" /><userTask id="t1" />
    </process>
    <process id="second" isExecutable="true">
      <startEvent id="s2" /><sequenceFlow id="a2" sourceRef="s2" targetRef="t2" /><userTask id="t2" />
    </process>`);

  it('deploys each process under its id; an instance runs the process it was started for, only', async () => {
    const engine = plugin();
    expect(await engine.deploy(source)).toEqual(['first', 'second']);
    const a = await engine.start('first');
    const b = await engine.start('second');
    expect(await engine.getWaitStates(a)).toEqual(['t1']);
    expect(await engine.getWaitStates(b)).toEqual(['t2']);
    await engine.signal(a, 't1');
    expect((await engine.whenEnded(a)).status).toBe('completed');
    expect(await engine.getWaitStates(b)).toEqual(['t2']);
  });

  it('refuses an id of your choosing for such a document', async () => {
    const error = await errorOf(plugin().deploy(source, 'both'));
    expect(PsiError.is(error) && error.code).toBe(EngineErrorCode.DefinitionInvalid);
  });
});

describe('silence is reported (issue 22, item 10)', () => {
  it('ends an instance that can neither wait nor move as failed, naming where it rests, and reports it', async () => {
    const reported: unknown[] = [];
    const engine = plugin({
      onError: (error) => reported.push(error),
      definitions: [
        // A catch event with no event definition: bpmn-engine waits there for ever, and nothing
        // PSI could send or time reaches it.
        doc(`<process id="stuck" isExecutable="true">
          <startEvent id="start" /><sequenceFlow id="f1" sourceRef="start" targetRef="nowhere" />
          <intermediateCatchEvent id="nowhere" />
          <sequenceFlow id="f2" sourceRef="nowhere" targetRef="end" /><endEvent id="end" />
        </process>`),
      ],
    });
    const id = await engine.start('stuck');
    expect(await engine.getInstance(id)).toMatchObject({
      status: 'failed',
      fault: { code: EngineErrorCode.InstanceStalled },
    });
    expect(reported).toHaveLength(1);
    expect(PsiError.is(reported[0]) && reported[0].code).toBe(EngineErrorCode.InstanceStalled);
    expect((reported[0] as Error).message).toContain('nowhere');
  });
});

describe('live Engines (issue 17: no more Engines rebuilt per instance than its waits need)', () => {
  const source = doc(`<process id="two-steps" isExecutable="true">
    <startEvent id="start" /><sequenceFlow id="f1" sourceRef="start" targetRef="call" />
    <serviceTask id="call" /><sequenceFlow id="f2" sourceRef="call" targetRef="await" />
    <receiveTask id="await" /><sequenceFlow id="f3" sourceRef="await" targetRef="end" /><endEvent id="end" />
  </process>`);

  it('keeps at most `max` Engines, the least recently used dropped first; a dropped one is rebuilt on its next signal', async () => {
    const engine = plugin({ definitions: [source], liveEngines: { max: 2, idleMs: 60_000 } });
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await engine.start('two-steps'));
    await eventually('the oldest Engines are dropped', () =>
      engine.liveInstances === 2 ? true : undefined,
    );
    for (const id of ids) await engine.signal(id, 'call');
    for (const id of ids) await engine.signal(id, 'await');
    for (const id of ids) expect((await engine.whenEnded(id)).status).toBe('completed');
    expect(engine.liveInstances).toBe(0);
  });

  it('drops an Engine idle for idleMs', async () => {
    const engine = plugin({ definitions: [source], liveEngines: { idleMs: 20 } });
    const id = await engine.start('two-steps');
    expect(engine.liveInstances).toBe(1);
    await eventually('the idle Engine is dropped', () =>
      engine.liveInstances === 0 ? true : undefined,
    );
    await engine.signal(id, 'call');
    expect(await engine.getWaitStates(id)).toEqual(['await']);
  });

  it('does not reuse an Engine once another plugin moved the instance (the record’s revision)', async () => {
    const repository: EngineStateRepository = new InMemoryEngineStateRepository();
    const first = plugin({ definitions: [source], stateRepository: repository });
    const second = plugin({ definitions: [source], stateRepository: repository });
    const id = await first.start('two-steps');
    await second.signal(id, 'call');
    // The first plugin's Engine still waits at "call"; its record says "await".
    expect(await first.getWaitStates(id)).toEqual(['await']);
    await first.signal(id, 'await');
    expect((await first.whenEnded(id)).status).toBe('completed');
  });
});

async function record(
  repository: InMemoryEngineStateRepository,
  id: string,
): Promise<BpmnInstanceRecord> {
  const json = await repository.load('bpmn-engine', id);
  return JSON.parse(json!) as BpmnInstanceRecord;
}
