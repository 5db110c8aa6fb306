import type { Coordinator } from '@psi/core';
import type { BpmnEnginePlugin } from '@psi/engines';
import { bpmnEngine, PsiTestEnvironment } from '@psi/testing';

// Issue 16.5 with an engine whose models declare what they wait for: an answer for a message a
// BPMN model waits for by itself (no adapter, no wait binding) is a real answer, parked when it
// comes early; one for an event nothing declares (a typo) is dead-lettered `unknown-event` at
// once. The plugin says what its deployed documents wait for (PEAL `declaredEvents`).

const xml = `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="shipping-defs" targetNamespace="psi">
  <message id="Msg_shipped" name="shipped" />
  <process id="shipping" isExecutable="true">
    <startEvent id="start" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="await-shipped" />
    <receiveTask id="await-shipped" messageRef="Msg_shipped" />
    <sequenceFlow id="f2" sourceRef="await-shipped" targetRef="end" />
    <endEvent id="end" />
  </process>
</definitions>`;

describe('events the engine models declare (bpmn-engine plugin)', () => {
  let env: PsiTestEnvironment;
  let engine: BpmnEnginePlugin;
  let coordinator: Coordinator;
  const warnings = () => env.problems.map((p) => p.message);

  beforeEach(async () => {
    env = await PsiTestEnvironment.create({ engine: bpmnEngine([xml]), adapters: [] });
    engine = env.engine as unknown as BpmnEnginePlugin; // start(…, { instanceId })
    coordinator = env.coordinator;
  });
  afterEach(() => env.dispose());

  it('parks an early answer for a model-declared message, and delivers it when the instance waits', async () => {
    expect(await engine.declaredEvents()).toEqual(['shipped']);
    // Model waits are addressed by the instance id as correlation key.
    expect(
      await coordinator.receive({ event: 'shipped', correlationKey: 'ship-1', payload: {} }),
    ).toMatchObject({ status: 'parked' });
    const id = await engine.start('shipping', {}, { instanceId: 'ship-1' });
    await env.whenEnded(id);
    expect(await engine.getWaitStates(id)).toEqual([]);
    expect(await coordinator.deadLetters.list()).toEqual([]);
    expect(warnings()).toEqual([]);
  });

  it('dead-letters an answer for an event nothing declares', async () => {
    expect(
      await coordinator.receive({ event: 'shiped', correlationKey: 'ship-2', payload: {} }),
    ).toMatchObject({ status: 'dead-lettered', reason: 'unknown-event' });
    const [letter] = await coordinator.deadLetters.list({ reason: 'unknown-event' });
    expect(letter.detail).toEqual({ knownEvents: ['shipped'] });
    expect(warnings()).toEqual([
      'No adapter, wait binding or engine model declares the event "shiped"; the answer is dead-lettered (unknown-event)',
    ]);
  });
});
