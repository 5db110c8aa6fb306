import { randomBytes } from 'node:crypto';
import { HttpInboundServer } from '@psi/adapters';
import { messageStartInstanceId, type ReceiveOutcome, type ReplayOutcome } from '@psi/core';
import { Agent, request } from 'undici';
import { storeLabel, testStoreKinds, useStoreLocations } from '../../foundation/test-stores';
import { BpmnWorld } from './bpmn-world';

// Issue 22, item 4: a message (or signal) start event started by a message sent to PSI, through
// the same receive path as answers: over HTTP and in-process, once per message id (also across
// a crash between the start and its record, and a restart), a waiting instance first, two
// processes on one message an `ambiguous` dead letter.

const doc = (processes: string, refs: string) => `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="start-defs" targetNamespace="psi">
  ${refs}
  ${processes}
</definitions>`;

const orderProcess = (id: string) => `<process id="${id}" isExecutable="true">
    <startEvent id="on-order"><messageEventDefinition messageRef="Msg_order" /></startEvent>
    <sequenceFlow id="f1" sourceRef="on-order" targetRef="review" />
    <userTask id="review" />
    <sequenceFlow id="f2" sourceRef="review" targetRef="done" />
    <endEvent id="done" />
  </process>`;
const ORDER_MESSAGE = '<message id="Msg_order" name="order-placed" />';

const alarmProcess = `<process id="on-alarm" isExecutable="true">
    <startEvent id="alarm-start"><signalEventDefinition signalRef="Sig_alarm" /></startEvent>
    <sequenceFlow id="g1" sourceRef="alarm-start" targetRef="respond" />
    <userTask id="respond" />
  </process>`;
const ALARM_SIGNAL = '<signal id="Sig_alarm" name="alarm" />';

const BEARER = randomBytes(24).toString('hex');
const orders = doc(orderProcess('order-intake'), ORDER_MESSAGE);
const alarms = doc(alarmProcess, ALARM_SIGNAL);

const placed = (messageId: string, orderId: string) => ({
  event: 'order-placed',
  messageId,
  payload: { orderId, lines: 2 },
});

/** The instances that reached `waitState`, from the plugin's events. */
function instancesAt(world: BpmnWorld, waitState: string): string[] {
  return [
    ...new Set(
      world.events
        .filter((e) => e.type === 'wait-state-entered' && e.waitState === waitState)
        .map((e) => e.instanceId),
    ),
  ];
}

/** The started instance's id, from a receive's or a replay's outcome. */
function started(outcome: ReceiveOutcome | ReplayOutcome): string {
  if (outcome.status !== 'started') throw new Error(`not started: ${JSON.stringify(outcome)}`);
  return outcome.instanceId;
}

describe.each(testStoreKinds())('message start events through receive (%s)', (kind) => {
  const locations = useStoreLocations(kind, 'psi-bpmn-msgstart-');
  const worlds: BpmnWorld[] = [];
  afterEach(async () => {
    const errors = worlds.flatMap((w) => w.errors);
    for (const world of worlds.splice(0)) await world.close();
    expect(errors).toEqual([]);
  });
  async function open(definitions = [orders, alarms]): Promise<BpmnWorld> {
    const world = await BpmnWorld.open(locations.next(), { definitions });
    worlds.push(world);
    return world;
  }

  it(`starts one instance per message id, the payload as variables (${storeLabel(kind)})`, async () => {
    const world = await open();
    const outcome = await world.receive(placed('m-1', 'O-1'));
    expect(outcome).toEqual({
      status: 'started',
      instanceId: messageStartInstanceId({ sender: '', messageId: 'm-1' }),
      definitionId: 'order-intake',
    });
    const id = started(outcome);
    expect(await world.at(id, 'review')).toEqual(['review']);
    expect(await world.plugin.getVariables(id)).toEqual({ orderId: 'O-1', lines: 2 });
    const trail = await world.coordinator.auditTrail(id);
    expect(trail).toContainEqual(
      expect.objectContaining({
        kind: 'started',
        detail: expect.objectContaining({
          event: 'order-placed',
          definitionId: 'order-intake',
          startEvent: 'on-order',
        }),
      }),
    );

    // The same message again (a redelivery): nothing more starts.
    expect(await world.receive(placed('m-1', 'O-1'))).toEqual({ status: 'duplicate' });
    // Another message id: another instance.
    const second = started(await world.receive(placed('m-2', 'O-2')));
    expect(second).not.toBe(id);
    await world.at(second, 'review');
    expect(instancesAt(world, 'review').sort()).toEqual([id, second].sort());
  });

  it(`the same message twice at once starts one instance (${storeLabel(kind)})`, async () => {
    const world = await open();
    const outcomes = await Promise.all([
      world.receive(placed('m-twice', 'O-4')),
      world.receive(placed('m-twice', 'O-4')),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['duplicate', 'started']);
    const id = started(outcomes.find((o) => o.status === 'started')!);
    await world.at(id, 'review');
    expect(instancesAt(world, 'review')).toEqual([id]);
    const kinds = (await world.coordinator.auditTrail(id)).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'started')).toHaveLength(1);
  });

  it(`a crash between the start and its record starts nothing more on redelivery (${storeLabel(kind)})`, async () => {
    const world = await open();
    // What the coordinator does before recording the message, then the node dies.
    const instanceId = messageStartInstanceId({ sender: '', messageId: 'm-crash' });
    await world.plugin.startByMessage(
      'order-placed',
      { orderId: 'O-9' },
      { instanceId, payload: { orderId: 'O-9' } },
    );
    const next = await world.restart();
    worlds.splice(0, 1, next);

    const outcome = await next.receive({
      ...placed('m-crash', 'O-9'),
      payload: { orderId: 'O-9' },
    });
    expect(outcome).toEqual({ status: 'started', instanceId, definitionId: 'order-intake' });
    expect(await next.coordinator.auditTrail(instanceId)).toContainEqual(
      expect.objectContaining({
        kind: 'started',
        detail: expect.objectContaining({ startedBefore: true }),
      }),
    );
    expect(
      await next.receive({ ...placed('m-crash', 'O-9'), payload: { orderId: 'O-9' } }),
    ).toEqual({ status: 'duplicate' });
    await next.at(instanceId, 'review');
    expect(instancesAt(next, 'review')).toEqual([instanceId]);
  });

  it(`after a restart: new messages start, old ids stay duplicates (${storeLabel(kind)})`, async () => {
    const world = await open();
    const before = started(await world.receive(placed('m-1', 'O-1')));
    await world.at(before, 'review');
    const next = await world.restart();
    worlds.splice(0, 1, next);

    expect(await next.receive(placed('m-1', 'O-1'))).toEqual({ status: 'duplicate' });
    const after = started(await next.receive(placed('m-3', 'O-3')));
    expect(await next.at(after, 'review')).toEqual(['review']);
    expect(await next.plugin.getVariables(after)).toEqual({ orderId: 'O-3', lines: 2 });
    expect(await next.plugin.getWaitStates(before)).toEqual(['review']);
  });
});

describe('message and signal start events through receive (SQLite)', () => {
  const locations = useStoreLocations('sqlite', 'psi-bpmn-msgstart-');
  const worlds: BpmnWorld[] = [];
  const client = new Agent();
  afterAll(() => client.close());
  afterEach(async () => {
    const errors = worlds.flatMap((w) => w.errors);
    for (const world of worlds.splice(0)) await world.close();
    expect(errors).toEqual([]);
  });
  async function open(definitions = [orders, alarms]): Promise<BpmnWorld> {
    const world = await BpmnWorld.open(locations.next(), { definitions });
    worlds.push(world);
    return world;
  }

  it('starts the process from POST /messages on the inbound server, once per message id', async () => {
    const world = await open();
    const server = new HttpInboundServer({ sink: world.coordinator, bearerToken: BEARER });
    const { url } = await server.start();
    try {
      const post = async (): Promise<ReceiveOutcome> => {
        const response = await request(`${url}/messages`, {
          method: 'POST',
          dispatcher: client,
          headers: {
            'content-type': 'application/json',
            'x-psi-message-id': 'http-1',
            authorization: `Bearer ${BEARER}`,
          },
          body: JSON.stringify({ event: 'order-placed', payload: { orderId: 'O-7' } }),
        });
        expect(response.statusCode).toBe(202);
        return ((await response.body.json()) as { outcome: ReceiveOutcome }).outcome;
      };
      const outcome = await post();
      expect(outcome).toMatchObject({ status: 'started', definitionId: 'order-intake' });
      const id = started(outcome);
      expect(await world.at(id, 'review')).toEqual(['review']);
      expect(await world.plugin.getVariables(id)).toEqual({ orderId: 'O-7' });
      expect(await post()).toEqual({ status: 'duplicate' });
      expect(instancesAt(world, 'review')).toEqual([id]);
    } finally {
      await server.close();
    }
  });

  it('starts the process of a signal start event', async () => {
    const world = await open();
    const id = started(
      await world.receive({ event: 'alarm', messageId: 's-1', payload: { level: 3 } }),
    );
    expect((await world.plugin.getInstance(id)).definitionId).toBe('on-alarm');
    expect(await world.at(id, 'respond')).toEqual(['respond']);
    expect(await world.plugin.getVariables(id)).toEqual({ level: 3 });
  });

  it('gives a message its business key addresses to the waiting instance, else starts one', async () => {
    const keyed = doc(
      orderProcess('order-intake'),
      '<message id="Msg_order" name="order-placed"><extensionElements><zeebe:subscription correlationKey="=orderId" /></extensionElements></message>',
    );
    const world = await open([keyed]);
    const waiting = await world.plugin.start('order-intake', { orderId: 'O-5' });
    await world.awaiting(waiting, 'on-order');
    const byKey = (messageId: string, orderId: string) => ({
      event: 'order-placed',
      messageId,
      businessKey: { orderId },
      payload: { orderId },
    });
    expect(await world.receive(byKey('m-5', 'O-5'))).toMatchObject({
      status: 'delivered',
      instanceId: waiting,
    });
    expect(await world.at(waiting, 'review')).toEqual(['review']);
    const fresh = started(await world.receive(byKey('m-6', 'O-6')));
    await world.at(fresh, 'review');
    expect(instancesAt(world, 'review').sort()).toEqual([waiting, fresh].sort());
  });

  it('gives the message to a waiting instance first: no new instance', async () => {
    const world = await open();
    // Started plainly, the instance waits at its message start event for "order-placed".
    const waiting = await world.plugin.start('order-intake');
    await world.awaiting(waiting, 'on-order');
    expect(await world.receive({ ...placed('m-w', 'O-5'), correlationKey: waiting })).toMatchObject(
      { status: 'delivered', instanceId: waiting },
    );
    expect(await world.at(waiting, 'review')).toEqual(['review']);
    expect(instancesAt(world, 'review')).toEqual([waiting]);
  });

  it('parks a message addressed by correlation key that no instance waits for: it starts nothing', async () => {
    const world = await open();
    expect(
      await world.receive({ ...placed('m-k', 'O-6'), correlationKey: 'nobody-yet' }),
    ).toMatchObject({ status: 'parked' });
    expect(instancesAt(world, 'review')).toEqual([]);
  });

  it('keeps a message whose start failed as a handler-failed dead letter; its replay starts it', async () => {
    const world = await open();
    const startByMessage = world.plugin.startByMessage.bind(world.plugin);
    // The engine's state repository is down for this one start.
    world.plugin.startByMessage = () => Promise.reject(new Error('engine store unreachable'));
    const outcome = await world.receive(placed('m-fail', 'O-8'));
    expect(outcome).toMatchObject({ status: 'dead-lettered', reason: 'handler-failed' });
    expect(instancesAt(world, 'review')).toEqual([]);

    world.plugin.startByMessage = startByMessage;
    if (outcome.status !== 'dead-lettered') throw new Error('not dead-lettered');
    const replayed = await world.coordinator.deadLetters.replay(outcome.deadLetterId);
    expect(replayed).toMatchObject({ status: 'started', definitionId: 'order-intake' });
    const id = started(replayed);
    expect(await world.at(id, 'review')).toEqual(['review']);
    expect(await world.plugin.getVariables(id)).toEqual({ orderId: 'O-8', lines: 2 });
  });

  it('dead-letters a message two processes start on (ambiguous), starting neither', async () => {
    const world = await open([orders, doc(orderProcess('order-audit'), ORDER_MESSAGE)]);
    const outcome = await world.receive(placed('m-amb', 'O-1'));
    expect(outcome).toMatchObject({ status: 'dead-lettered', reason: 'ambiguous' });
    const [letter] = await world.coordinator.deadLetters.list({ reason: 'ambiguous' });
    expect(letter.detail).toEqual({
      candidates: [
        { definitionId: 'order-intake', startEvent: 'on-order' },
        { definitionId: 'order-audit', startEvent: 'on-order' },
      ],
    });
    expect(instancesAt(world, 'review')).toEqual([]);
    expect(await world.receive(placed('m-amb', 'O-1'))).toEqual({ status: 'duplicate' });
  });
});
