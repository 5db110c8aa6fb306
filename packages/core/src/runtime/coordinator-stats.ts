/** Counters of this coordinator process since it was created. */
export interface CoordinatorStats {
  received: number;
  duplicates: number;
  delivered: number;
  parked: number;
  deadLettered: number;
  timedOut: number;
  retried: number;
  frozen: number;
}

export function emptyStats(): CoordinatorStats {
  return {
    received: 0,
    duplicates: 0,
    delivered: 0,
    parked: 0,
    deadLettered: 0,
    timedOut: 0,
    retried: 0,
    frozen: 0,
  };
}
