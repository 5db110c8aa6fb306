const TIMER_EVENT_DEFINITION = 'bpmn:TimerEventDefinition';

/**
 * The earliest due time (epoch ms) of the BPMN timers armed in a bpmn-engine `getState()`, or
 * undefined when none is. bpmn-elements keeps an armed timer as the pending execute message of
 * its `TimerEventDefinition`, with `expireAt` (an ISO date); the message is gone once the timer
 * fired or its activity was left or discarded, so whatever is still in the state is armed.
 * Verified against bpmn-engine 25 / bpmn-elements 17 (boundary events, intermediate catch events,
 * events behind an event-based gateway).
 */
export function earliestTimerDue(engineState: unknown): number | undefined {
  let earliest: number | undefined;
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const node = value as Record<string, unknown>;
    if (node.type === TIMER_EVENT_DEFINITION && node.expireAt !== undefined) {
      const due = new Date(node.expireAt as string | number).getTime();
      if (Number.isFinite(due) && (earliest === undefined || due < earliest)) earliest = due;
    }
    for (const child of Object.values(node)) visit(child);
  };
  visit(engineState);
  return earliest;
}
