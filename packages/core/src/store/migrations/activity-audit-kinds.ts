/**
 * Audit kinds the overview's activity chart and the operator-action list read by time: the
 * partial index `psi_audit_activity` (migration 1739000000000) holds them. A change here needs a
 * migration that rebuilds the index, or queries for the new kind scan the table.
 */
export const ACTIVITY_AUDIT_KINDS = [
  'parked',
  'dead-lettered',
  'delivered',
  'replayed',
  'discarded',
  'thawed',
  'injected',
  'guard-released',
  'parked-released',
  'parked-expired',
  'operation',
] as const;

/** The kinds as an SQL list, for the partial index `psi_audit_activity` and its queries. */
export const ACTIVITY_KINDS_SQL = ACTIVITY_AUDIT_KINDS.map((kind) => `'${kind}'`).join(', ');
