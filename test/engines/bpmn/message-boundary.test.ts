import { Input, OnResponse, Output, WaitBinding } from '@psi/core';
import { storeLabel, testStoreKinds, useStoreLocations } from '../../foundation/test-stores';
import { BpmnWorld } from './bpmn-world';

// Message boundary events through PSI, answered through the coordinator as a real sender would
// (no direct engine signal), with what Zeebe's own correlation tests expect of a BPMN engine:
// an interrupting boundary leaves its activity at the first message and takes no second one; a
// non-interrupting boundary runs its path for every message, in publish order, while the
// activity stays, and takes none once the activity is left; a message reaches only the instance
// its correlation key names; a message published before the subscription opens is buffered
// (parked) and correlated once it opens; the same message (id) twice is correlated once.

const doc = (cancelActivity: boolean) => `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="boundary-defs" targetNamespace="psi">
  <message id="Msg_note" name="note"><extensionElements><zeebe:subscription correlationKey="=orderId" /></extensionElements></message>
  <process id="review" isExecutable="true">
    <startEvent id="start" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="review-order" />
    <userTask id="review-order" />
    <boundaryEvent id="on-note" attachedToRef="review-order" cancelActivity="${cancelActivity}"><messageEventDefinition messageRef="Msg_note" /></boundaryEvent>
    <sequenceFlow id="f-note" sourceRef="on-note" targetRef="mark-note" />
    <scriptTask id="mark-note" scriptFormat="javascript"><script>environment.variables.path = (environment.variables.path || []).concat(['note']); next();</script></scriptTask>
    <sequenceFlow id="f-note-end" sourceRef="mark-note" targetRef="noted" />
    <endEvent id="noted" />
    <sequenceFlow id="f2" sourceRef="review-order" targetRef="mark-reviewed" />
    <scriptTask id="mark-reviewed" scriptFormat="javascript"><script>environment.variables.path = (environment.variables.path || []).concat(['reviewed']); next();</script></scriptTask>
    <sequenceFlow id="f3" sourceRef="mark-reviewed" targetRef="done" />
    <endEvent id="done" />
  </process>
</definitions>`;

/** What the model cannot say: each note is appended to the instance's `notes`. */
@WaitBinding()
class NoteWait {
  @Input() @Output() notes?: string[];

  @OnResponse('note', { waitState: 'on-note' })
  noted(answer: { text: string }): void {
    this.notes = [...(this.notes ?? []), answer.text];
  }
}

const note = (orderId: string, text: string, messageId?: string) => ({
  event: 'note',
  businessKey: { orderId },
  payload: { text },
  ...(messageId ? { messageId } : {}),
});

describe.each(testStoreKinds())('message boundary events through PSI (%s)', (kind) => {
  const locations = useStoreLocations(kind, 'psi-bpmn-boundary-');
  const worlds: BpmnWorld[] = [];
  afterEach(async () => {
    const errors = worlds.flatMap((w) => w.errors);
    for (const world of worlds.splice(0)) await world.close();
    expect(errors).toEqual([]);
  });

  async function open(cancelActivity: boolean): Promise<BpmnWorld> {
    const world = await BpmnWorld.open(locations.next(), {
      definitions: [doc(cancelActivity)],
      waitBindings: [NoteWait],
    });
    worlds.push(world);
    return world;
  }

  describe(`interrupting (${storeLabel(kind)})`, () => {
    it('leaves the activity at the first message; the second is late', async () => {
      const world = await open(true);
      const id = await world.plugin.start('review', { orderId: 'O-1' });
      await world.awaiting(id, 'on-note');

      expect(await world.receive(note('O-1', 'stop'))).toMatchObject({
        status: 'delivered',
        instanceId: id,
      });
      expect(await world.ended(id)).toMatchObject({ outcome: 'completed' });
      expect(await world.plugin.getVariables(id)).toEqual({
        orderId: 'O-1',
        notes: ['stop'],
        path: ['note'],
      });
      expect(await world.receive(note('O-1', 'again'))).toMatchObject({
        status: 'dead-lettered',
        reason: 'late',
      });
    });

    it('reaches only the instance its correlation key names, and parks a message sent before the subscription opens', async () => {
      const world = await open(true);
      expect(await world.receive(note('O-early', 'early'))).toMatchObject({ status: 'parked' });
      const other = await world.plugin.start('review', { orderId: 'O-other' });
      const early = await world.plugin.start('review', { orderId: 'O-early' });
      expect(await world.ended(early)).toMatchObject({ outcome: 'completed' });
      expect(await world.plugin.getVariables(early)).toMatchObject({ notes: ['early'] });
      expect([...(await world.plugin.getWaitStates(other))].sort()).toEqual([
        'on-note',
        'review-order',
      ]);
    });
  });

  describe(`non-interrupting (${storeLabel(kind)})`, () => {
    it('runs the boundary path for every message, in publish order, while the activity stays; none after it was left', async () => {
      const world = await open(false);
      const id = await world.plugin.start('review', { orderId: 'O-2' });
      await world.awaiting(id, 'on-note');

      const texts = ['first', 'second', 'third', 'fourth'];
      const outcomes = await Promise.all(
        texts.map((text, n) => world.receive(note('O-2', text, `note-${n}`))),
      );
      expect(outcomes.map((o) => o.status)).toEqual(texts.map(() => 'delivered'));
      expect(await world.plugin.getVariables(id)).toEqual({
        orderId: 'O-2',
        notes: texts,
        path: texts.map(() => 'note'),
      });
      expect([...(await world.plugin.getWaitStates(id))].sort()).toEqual([
        'on-note',
        'review-order',
      ]);
      // The same message again is a duplicate, not a fifth note.
      expect(await world.receive(note('O-2', 'first', 'note-0'))).toEqual({ status: 'duplicate' });

      await world.plugin.signal(id, 'review-order');
      expect(await world.ended(id)).toMatchObject({ outcome: 'completed' });
      expect((await world.plugin.getVariables(id)).path).toEqual([
        ...texts.map(() => 'note'),
        'reviewed',
      ]);
      expect(await world.receive(note('O-2', 'too late'))).toMatchObject({
        status: 'dead-lettered',
        reason: 'late',
      });
    });

    it('keeps taking messages across a restart', async () => {
      let world = await open(false);
      const id = await world.plugin.start('review', { orderId: 'O-3' });
      await world.awaiting(id, 'on-note');
      expect(await world.receive(note('O-3', 'before'))).toMatchObject({ status: 'delivered' });

      worlds.splice(worlds.indexOf(world), 1);
      world = await world.restart();
      worlds.push(world);
      expect([...(await world.plugin.getWaitStates(id))].sort()).toEqual([
        'on-note',
        'review-order',
      ]);
      expect(await world.receive(note('O-3', 'after'))).toMatchObject({ status: 'delivered' });
      expect(await world.plugin.getVariables(id)).toMatchObject({ notes: ['before', 'after'] });
      expect([...(await world.plugin.getWaitStates(id))].sort()).toEqual([
        'on-note',
        'review-order',
      ]);
    });
  });
});
