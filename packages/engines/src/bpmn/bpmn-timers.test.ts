import { earliestTimerDue } from './bpmn-timers';

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
