/**
 * How many of its latest signal ids an instance keeps. A repeated signal comes from PSI settling
 * what a crash interrupted, at the first readiness after the restart, or from a caller retrying
 * a request it saw fail: both long before this many other signals reach the same instance.
 */
export const KEPT_SIGNAL_IDS = 32;

/** A persisted instance that keeps the ids of the signals it took, oldest first. */
export interface SignalIdHolder {
  signalIds?: string[];
}

/** True when the instance already took the signal named `signalId`. */
export function wasApplied(holder: SignalIdHolder, signalId: string | undefined): boolean {
  return (
    signalId !== undefined && Array.isArray(holder.signalIds) && holder.signalIds.includes(signalId)
  );
}

/** Notes `signalId` as taken; call it on the state that is saved with the signal's effect. */
export function recordApplied(holder: SignalIdHolder, signalId: string | undefined): void {
  if (signalId === undefined) return;
  const kept = Array.isArray(holder.signalIds) ? holder.signalIds : [];
  kept.push(signalId);
  holder.signalIds = kept.slice(-KEPT_SIGNAL_IDS);
}
