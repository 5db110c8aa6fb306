import { InMemoryEngineStateRepository, type EngineEvent } from '@psi/core';
import { BpmnEnginePlugin, type BpmnInstanceRecord } from '@psi/engines';

/** A BPMN document of one process `timed` with `body` as its elements. */
function bpmn(body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="psi">
  <message id="Msg_answer" name="answer" />
  <process id="timed" isExecutable="true">${body}
  </process>
</definitions>`;
}

function timer(duration: string): string {
  return `<timerEventDefinition><timeDuration xsi:type="tFormalExpression">${duration}</timeDuration></timerEventDefinition>`;
}

/** A script task that writes `path` so a test sees which branch ran. */
function mark(id: string, path: string): string {
  return `<scriptTask id="${id}" scriptFormat="javascript"><script>environment.variables.path = '${path}'; next();</script></scriptTask>`;
}

/** Service task, then a timer intermediate catch event, then the end. */
const coolDown = (duration: string): string =>
  bpmn(`
    <startEvent id="start" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="call-service" />
    <serviceTask id="call-service" />
    <sequenceFlow id="f2" sourceRef="call-service" targetRef="cool-down" />
    <intermediateCatchEvent id="cool-down">${timer(duration)}</intermediateCatchEvent>
    <sequenceFlow id="f3" sourceRef="cool-down" targetRef="mark-cooled" />
    ${mark('mark-cooled', 'cooled-down')}
    <sequenceFlow id="f4" sourceRef="mark-cooled" targetRef="end" />
    <endEvent id="end" />`);

/** A receive task with a timer boundary event: the answer, or the timeout path. */
const awaitAnswer = (duration: string): string =>
  bpmn(`
    <startEvent id="start" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="await-answer" />
    <receiveTask id="await-answer" messageRef="Msg_answer" />
    <boundaryEvent id="too-late" attachedToRef="await-answer">${timer(duration)}</boundaryEvent>
    <sequenceFlow id="f2" sourceRef="too-late" targetRef="mark-late" />
    ${mark('mark-late', 'timed-out')}
    <sequenceFlow id="f3" sourceRef="mark-late" targetRef="end-late" />
    <endEvent id="end-late" />
    <sequenceFlow id="f4" sourceRef="await-answer" targetRef="mark-answered" />
    ${mark('mark-answered', 'answered')}
    <sequenceFlow id="f5" sourceRef="mark-answered" targetRef="end-ok" />
    <endEvent id="end-ok" />`);

/** An event-based gateway: the message, or the timer, whichever comes first. */
const raceAtGateway = (duration: string): string =>
  bpmn(`
    <startEvent id="start" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="race" />
    <eventBasedGateway id="race" />
    <sequenceFlow id="g1" sourceRef="race" targetRef="answer" />
    <sequenceFlow id="g2" sourceRef="race" targetRef="timeout" />
    <intermediateCatchEvent id="answer"><messageEventDefinition messageRef="Msg_answer" /></intermediateCatchEvent>
    <intermediateCatchEvent id="timeout">${timer(duration)}</intermediateCatchEvent>
    <sequenceFlow id="f2" sourceRef="answer" targetRef="mark-answered" />
    ${mark('mark-answered', 'answered')}
    <sequenceFlow id="f3" sourceRef="timeout" targetRef="mark-late" />
    ${mark('mark-late', 'timed-out')}
    <sequenceFlow id="f4" sourceRef="mark-answered" targetRef="end" />
    <sequenceFlow id="f5" sourceRef="mark-late" targetRef="end" />
    <endEvent id="end" />`);

async function record(
  repository: InMemoryEngineStateRepository,
  instanceId: string,
): Promise<BpmnInstanceRecord> {
  const json = await repository.load('bpmn-engine', instanceId);
  if (json === undefined) throw new Error(`no record for ${instanceId}`);
  return JSON.parse(json) as BpmnInstanceRecord;
}

describe('BpmnEnginePlugin timer events', () => {
  let repository: InMemoryEngineStateRepository;
  const plugins: BpmnEnginePlugin[] = [];

  function plugin(source: string): BpmnEnginePlugin {
    const created = new BpmnEnginePlugin({ definitions: [source], stateRepository: repository });
    plugins.push(created);
    return created;
  }

  beforeEach(() => {
    repository = new InMemoryEngineStateRepository();
  });
  afterEach(async () => {
    for (const p of plugins.splice(0)) await p.stop();
  });

  describe('on real timers of a few milliseconds', () => {
    it('waits at an intermediate timer (not a wait state PSI can signal, no live Engine) and moves on when due', async () => {
      const engine = plugin(coolDown('PT0.02S'));
      const id = await engine.start('timed');
      const ended = engine.whenEnded(id);
      await engine.signal(id, 'call-service');

      const waiting = await record(repository, id);
      if (waiting.status === 'running') {
        expect(waiting.waits).toEqual([]);
        expect(waiting.timers).toBe(true);
        expect(waiting.timerDueAt).toEqual(expect.any(Number));
        expect(engine.liveInstances).toBe(0);
      }
      await expect(ended).resolves.toMatchObject({
        status: 'completed',
        variables: { path: 'cooled-down' },
      });
      expect(engine.liveInstances).toBe(0);
    });

    it('takes the timer boundary event of a receive task when no answer comes', async () => {
      const engine = plugin(awaitAnswer('PT0.03S'));
      const id = await engine.start('timed');
      expect(await engine.getWaitStates(id)).toEqual(['await-answer']);
      expect(engine.liveInstances).toBe(0);

      await expect(engine.whenEnded(id)).resolves.toMatchObject({
        status: 'completed',
        variables: { path: 'timed-out' },
      });
    });

    it('takes the timer behind an event-based gateway when no message comes', async () => {
      const engine = plugin(raceAtGateway('PT0.03S'));
      const id = await engine.start('timed');
      expect(await engine.getWaitStates(id)).toEqual(['race', 'answer']);

      await expect(engine.whenEnded(id)).resolves.toMatchObject({
        status: 'completed',
        variables: { path: 'timed-out' },
      });
    });
  });

  it('cancels the boundary timer when the answer comes first', async () => {
    const engine = plugin(awaitAnswer('PT1M'));
    const id = await engine.start('timed');
    expect((await record(repository, id)).timerDueAt).toEqual(expect.any(Number));

    await engine.signal(id, 'await-answer', { variables: { amount: 3 } });
    await expect(engine.whenEnded(id)).resolves.toMatchObject({
      status: 'completed',
      variables: { path: 'answered', amount: 3 },
    });
    const ended = await record(repository, id);
    expect(ended.timers).toBe(false);
    expect(ended.timerDueAt).toBeUndefined();
  });

  it('cancels the gateway timer when the message is chosen', async () => {
    const engine = plugin(raceAtGateway('PT1M'));
    const id = await engine.start('timed');
    await engine.signal(id, 'race', { transition: 'answer' });
    await expect(engine.whenEnded(id)).resolves.toMatchObject({
      variables: { path: 'answered' },
    });
  });

  describe('across a restart (a new plugin on the same repository)', () => {
    const t0 = Date.parse('2026-03-01T08:00:00Z');
    beforeEach(() => {
      // Date and setTimeout move together, only when the test says so; bpmn-engine's own
      // asynchrony (nextTick, setImmediate, microtasks) stays real.
      jest.useFakeTimers({ now: t0, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    });
    afterEach(() => {
      jest.useRealTimers();
    });

    it("re-arms a waiting instance's timer with the time left", async () => {
      const first = plugin(awaitAnswer('PT1M'));
      const id = await first.start('timed');
      await first.stop();
      expect(jest.getTimerCount()).toBe(0);
      jest.setSystemTime(t0 + 30_000);

      const second = plugin(awaitAnswer('PT1M'));
      const events: EngineEvent[] = [];
      second.subscribe((event) => events.push(event));
      await second.restore();
      expect(events).toEqual([
        {
          type: 'wait-state-entered',
          instanceId: id,
          waitState: 'await-answer',
          activationId: expect.any(String),
          awaits: [{ event: 'answer' }],
        },
      ]);
      expect(second.liveInstances).toBe(0);
      expect(await record(repository, id)).toMatchObject({ timers: true, timerDueAt: t0 + 60_000 });
      expect(jest.getTimerCount()).toBe(1);

      await jest.advanceTimersByTimeAsync(29_999);
      expect(await second.getWaitStates(id)).toEqual(['await-answer']);
      await jest.advanceTimersByTimeAsync(1);
      await expect(second.whenEnded(id)).resolves.toMatchObject({
        status: 'completed',
        variables: { path: 'timed-out' },
      });
    });

    it('fires a timer that expired while no plugin ran at once on restore', async () => {
      const first = plugin(awaitAnswer('PT1M'));
      const id = await first.start('timed');
      await first.stop();
      jest.setSystemTime(t0 + 120_000);

      const second = plugin(awaitAnswer('PT1M'));
      const ended = second.whenEnded(id);
      await second.restore();
      await expect(ended).resolves.toMatchObject({
        status: 'completed',
        variables: { path: 'timed-out' },
      });
    });

    it('delivers an answer to a restored instance before its timer, which then never fires', async () => {
      const first = plugin(awaitAnswer('PT1M'));
      const id = await first.start('timed');
      await first.stop();

      const second = plugin(awaitAnswer('PT1M'));
      await second.restore();
      await jest.advanceTimersByTimeAsync(10_000);
      await second.signal(id, 'await-answer');
      await expect(second.whenEnded(id)).resolves.toMatchObject({
        variables: { path: 'answered' },
      });
      expect(jest.getTimerCount()).toBe(0);
    });
  });
});
