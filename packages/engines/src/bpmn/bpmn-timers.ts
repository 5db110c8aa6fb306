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

/**
 * A copy of a bpmn-engine state with every armed timer's `expireAt` moved by `deltaMs`.
 * bpmn-elements computes due times from the real time (`new Date()`, not injectable); the plugin
 * keeps them on its own clock instead (option `clock`): it moves them by the clock's offset from
 * the real time when it saves a state (`-offset`) and back when it recovers one (`+offset`), so a
 * recovered Engine finds a timer due exactly when the plugin's clock says (a test clock moved 72
 * hours fires a PT72H timer). With the default clock the offset is 0 and nothing moves.
 */
export function shiftTimers(engineState: unknown, deltaMs: number): unknown {
  if (deltaMs === 0) return engineState;
  const copy = JSON.parse(JSON.stringify(engineState)) as unknown;
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const node = value as Record<string, unknown>;
    if (node.type === TIMER_EVENT_DEFINITION && node.expireAt !== undefined) {
      const due = new Date(node.expireAt as string | number).getTime();
      if (Number.isFinite(due)) node.expireAt = new Date(due + deltaMs).toISOString();
    }
    for (const child of Object.values(node)) visit(child);
  };
  visit(copy);
  return copy;
}
