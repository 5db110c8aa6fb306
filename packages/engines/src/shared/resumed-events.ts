import type { EngineEvent } from '@psi/core';

/**
 * The events a restore raises again for an instance resting where it was: a service step's
 * entry is marked `resumed`, so PSI looks up the invocation it recorded for it before running
 * the adapter (a live entry is run at once; see `ServiceStepEnteredEvent.resumed`).
 */
export function asResumed(events: readonly EngineEvent[]): EngineEvent[] {
  return events.map((event) =>
    event.type === 'service-step-entered' ? { ...event, resumed: true } : event,
  );
}
