import { PsiTestEnvironment } from './psi-test-environment';
import { bpmnEngine } from './test-engines';

const HOUR = 3_600_000;
// bpmn-elements reads the real time more than once while it arms a timer, so its due time is the
// duration give or take the milliseconds that took: the cases look a second either side.
const SECOND = 1_000;

/** A BPMN document of one process `timed` with `body` as its elements. */
function bpmn(body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="psi">
  <process id="timed" isExecutable="true">${body}
  </process>
</definitions>`;
}

const pt72h =
  '<timerEventDefinition><timeDuration xsi:type="tFormalExpression">PT72H</timeDuration></timerEventDefinition>';

/** A user task with a 72-hour timer boundary event, then a 72-hour intermediate timer. */
const approval = bpmn(`
    <startEvent id="start" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="approve" />
    <userTask id="approve" />
    <boundaryEvent id="too-late" attachedToRef="approve">${pt72h}</boundaryEvent>
    <sequenceFlow id="f2" sourceRef="too-late" targetRef="remind" />
    <userTask id="remind" />
    <sequenceFlow id="f3" sourceRef="remind" targetRef="cool-down" />
    <intermediateCatchEvent id="cool-down">${pt72h}</intermediateCatchEvent>
    <sequenceFlow id="f4" sourceRef="cool-down" targetRef="end-late" />
    <endEvent id="end-late" />
    <sequenceFlow id="f5" sourceRef="approve" targetRef="end-ok" />
    <endEvent id="end-ok" />`);

describe(bpmnEngine, () => {
  let env: PsiTestEnvironment;
  beforeEach(async () => {
    env = await PsiTestEnvironment.create({ engine: bpmnEngine([approval]), adapters: [] });
  });
  afterEach(() => env.dispose());

  it('fires BPMN timer events (boundary, intermediate) on the test clock, with no real waiting', async () => {
    const id = await env.start('timed');
    expect(await env.whenWaitingAt(id, 'approve')).toEqual(['approve']);

    await env.clock.advance(72 * HOUR - SECOND);
    expect(await env.engine.getWaitStates(id)).toEqual(['approve']);
    await env.clock.advance(2 * SECOND);
    expect(await env.engine.getWaitStates(id)).toEqual(['remind']);

    await env.signal(id, 'remind');
    await env.clock.advance(72 * HOUR - SECOND);
    expect((await env.engine.getInstance(id)).status).toBe('running');
    await env.clock.advance(2 * SECOND);
    const ended = await env.whenEnded(id);
    expect(ended.status).toBe('completed');
    expect(ended.history).toEqual(expect.arrayContaining(['too-late', 'cool-down', 'end-late']));
    expect(env.problems).toEqual([]);
  });

  it('keeps a BPMN timer on the test clock across a restart', async () => {
    const id = await env.start('timed');
    await env.whenWaitingAt(id, 'approve');
    await env.clock.advance(24 * HOUR);
    await env.restart();
    await env.clock.advance(48 * HOUR - SECOND);
    expect(await env.engine.getWaitStates(id)).toEqual(['approve']);
    await env.clock.advance(2 * SECOND);
    expect(await env.engine.getWaitStates(id)).toEqual(['remind']);
    expect(env.problems).toEqual([]);
  });
});
