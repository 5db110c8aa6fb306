import { earliestTimerDue, shiftTimers } from './bpmn-timers';

describe(earliestTimerDue, () => {
  const timer = (expireAt: unknown): unknown => ({
    type: 'bpmn:TimerEventDefinition',
    state: 'timer',
    expireAt,
  });

  it('finds the earliest armed timer anywhere in the state', () => {
    const state = {
      definitions: [
        {
          queues: [{ messages: [{ content: timer('2026-03-01T08:01:00.000Z') }] }],
          children: [{ messages: [{ content: timer('2026-03-01T08:00:30.000Z') }] }],
        },
      ],
    };
    expect(earliestTimerDue(state)).toBe(Date.parse('2026-03-01T08:00:30.000Z'));
  });

  it('is undefined without timers, and ignores other definitions and unreadable dates', () => {
    expect(earliestTimerDue({ a: [1, 'x', null] })).toBeUndefined();
    expect(
      earliestTimerDue([
        { type: 'bpmn:MessageEventDefinition', expireAt: '2026-03-01T08:00:00Z' },
        timer('not a date'),
        { type: 'bpmn:TimerEventDefinition' },
      ]),
    ).toBeUndefined();
  });
});

describe(shiftTimers, () => {
  it('moves every armed timer in a copy and leaves the rest, and the original, as they were', () => {
    const state = {
      messages: [
        { type: 'bpmn:TimerEventDefinition', expireAt: '2026-03-01T08:00:00.000Z', timeout: 5 },
        { type: 'bpmn:MessageEventDefinition', expireAt: '2026-03-01T08:00:00.000Z' },
      ],
    };
    const original = JSON.stringify(state);
    expect(shiftTimers(state, -60_000)).toEqual({
      messages: [
        { type: 'bpmn:TimerEventDefinition', expireAt: '2026-03-01T07:59:00.000Z', timeout: 5 },
        { type: 'bpmn:MessageEventDefinition', expireAt: '2026-03-01T08:00:00.000Z' },
      ],
    });
    expect(JSON.stringify(state)).toBe(original);
    expect(shiftTimers(state, 0)).toBe(state);
  });
});
