import type { DeadLetter } from '../records/dead-letters';
import type { DeadLetterReason, ReceiveOutcome } from '../spi/transport';
import type { ExpectationStatus } from '../store/entities/expectation.entity';
import type { InvocationStatus } from '../store/entities/invocation.entity';
import type { OperationItemStatus } from '../store/entities/operation-item.entity';
import type { OperationStatus } from '../store/entities/operation.entity';
import type { AuditKind } from '../store/entities/audit-entry.entity';

/** The record lists operators query. */
export type RecordList = 'expectations' | 'parked' | 'dead-letters' | 'invocations' | 'guards';

/**
 * Filters over a record list; every field is optional and fields combine with AND. A list
 * refuses a filter it does not have (OperationInvalidError) rather than ignoring it:
 *
 * | filter | expectations | parked | dead-letters | invocations | guards |
 * | --- | --- | --- | --- | --- | --- |
 * | instanceId, correlationKey | ✓ | ✓ | ✓ | ✓ | |
 * | event, businessKey | ✓ | ✓ | ✓ | | |
 * | service | ✓ | ✓ (via its expectation) | ✓ (via its expectation) | ✓ | |
 * | messageId | | ✓ | ✓ | | |
 * | reason | | ✓ (`no-expectation`, `instance-not-ready`) | ✓ | | |
 * | status | ✓ | | ✓ | ✓ | ✓ (`held`, `expired`) |
 * | guardId, owner | | | | | ✓ |
 * | from, to, minAgeMs, maxAgeMs | ✓ | ✓ | ✓ | ✓ | ✓ |
 *
 * The time window and age apply to the record's own time: created (expectations, dead letters,
 * invocations), received (parked answers), started (guards).
 */
export interface RecordFilter {
  instanceId?: string;
  event?: string;
  service?: string;
  correlationKey?: string;
  /** `value` matches any field of the business key; `field=value` that field. */
  businessKey?: string;
  messageId?: string;
  reason?: string;
  status?: string;
  guardId?: string;
  owner?: string;
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
  /** At least this old (ms before now). */
  minAgeMs?: number;
  /** At most this old (ms before now). */
  maxAgeMs?: number;
}

/** A page of a list; `nextCursor` fetches the next one (absent on the last page). */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

export interface PageRequest {
  /** @default 50 (at most 1,000) */
  limit?: number;
  cursor?: string;
  /** @default 'newest' */
  order?: 'newest' | 'oldest';
}

/** A record of any list. */
export type RecordView = ExpectationView | ParkedView | DeadLetterView | InvocationView | GuardView;

/** What an instance waits for, and until when. */
export interface ExpectationView {
  id: string;
  instanceId: string;
  invocationId: string;
  adapter: string;
  service?: string;
  step?: string;
  event: string;
  waitState: string;
  correlationKey?: string;
  businessKey?: string;
  groupId?: string;
  status: ExpectationStatus;
  deadline?: number;
  /** ms until the deadline (negative: overdue); absent without one. */
  timeLeftMs?: number;
  timeoutTransition?: string;
  /** Answers parked for it (they wait for the instance to reach `waitState`). */
  parkedAnswers: number;
  claimedBy?: string;
  claimExpiresAt?: number;
  createdAt: number;
  closedAt?: number;
  /** Reserved for trace ids (issue 18); always absent for now. */
  traceId?: string;
}

/** Why an answer is parked. */
export type ParkedReason = 'no-expectation' | 'instance-not-ready';

/** An answer waiting: why, for how long yet, and where it will go. */
export interface ParkedView {
  /** The parked row's sequence number, as a string. */
  id: string;
  messageId: string;
  event: string;
  correlationKey?: string;
  businessKey?: string;
  payload: unknown;
  source?: string;
  reason: ParkedReason;
  expectationId?: string;
  instanceId?: string;
  /** The wait state its expectation waits at (where it will be delivered). */
  waitState?: string;
  service?: string;
  receivedAt: number;
  expiresAt: number;
  ttlLeftMs: number;
  traceId?: string;
}

/** A dead letter as operators see it: the record (without its replay outcome) and its context. */
export interface DeadLetterView extends Omit<DeadLetter, 'replayOutcome'> {
  waitState?: string;
  service?: string;
  traceId?: string;
}

/** Dead letters grouped like failure groups: same reason, event and service. */
export interface DeadLetterGroup {
  reason: DeadLetterReason;
  event: string;
  service?: string;
  count: number;
  oldest: number;
  newest: number;
}

/** An invocation with what operators need to thaw it. */
export interface InvocationView {
  id: string;
  instanceId: string;
  activationId: string;
  step: string;
  adapter: string;
  service: string;
  correlationKey: string;
  status: InvocationStatus;
  lastError?: unknown;
  /** Most attempts of any of its requests. */
  attempts: number;
  leaseOwner?: string;
  leaseExpiresAt?: number;
  createdAt: number;
  updatedAt: number;
  traceId?: string;
}

/** A process guard row. */
export interface GuardView {
  id: string;
  owner: string;
  status: 'held' | 'expired';
  startedAt: number;
  expiresAt: number;
  ttlLeftMs: number;
}

/** One audit entry with its position. */
export interface AuditEntryView {
  seq: number;
  kind: AuditKind;
  instanceId?: string;
  invocationId?: string;
  detail?: Record<string, unknown>;
  at: number;
}

/** One line of an instance's timeline. */
export interface TimelineEntry {
  at: number;
  source: 'audit' | 'invocation' | 'expectation' | 'parked' | 'dead-letter';
  kind: string;
  summary: string;
  /** Id of the record the line is about. */
  ref?: string;
}

/** Everything PSI knows about an instance, and its history in time order. */
export interface InstanceTimeline {
  instanceId: string;
  invocations: InvocationView[];
  expectations: ExpectationView[];
  parked: ParkedView[];
  deadLetters: DeadLetterView[];
  audit: AuditEntryView[];
  entries: TimelineEntry[];
  traceId?: string;
}

/** Counts for the overview, and activity over time. */
export interface Overview {
  at: number;
  expectations: { open: number; overdue: number; claimed: number };
  parked: { total: number; noExpectation: number; instanceNotReady: number };
  deadLetters: { open: number; byReason: Partial<Record<DeadLetterReason, number>> };
  invocations: { frozen: number; running: number; waiting: number };
  guards: { held: number };
  operations: { active: number };
  activity: ActivitySeries;
}

/** Parked / dead-lettered / delivered per time bucket, from the audit trail. */
export interface ActivitySeries {
  since: number;
  bucketMs: number;
  buckets: Array<{ at: number; parked: number; deadLettered: number; delivered: number }>;
}

/** The actions operators take. */
export type OperatorAction =
  'replay' | 'discard' | 'thaw' | 'release-guard' | 'release-parked' | 'expire-parked' | 'inject';

/** Who acts, why, and through what: recorded with every action in the audit trail. */
export interface OperatorContext {
  actor: string;
  reason: string;
  /** `cli`, `console`, `api` or the application's own name. */
  channel: string;
}

/** An answer an operator hands to PSI (`inject`). */
export interface InjectedAnswer {
  event: string;
  correlationKey?: string;
  businessKey?: Record<string, unknown>;
  payload: unknown;
  /** @default an id derived from the operation, so a re-run after a crash is a duplicate */
  messageId?: string;
}

/** The records an action applies to: ids, or every record a filter matches (bulk). */
export type ActionTarget = { ids: string[] } | { filter: RecordFilter };

export interface ActionRequest {
  action: OperatorAction;
  /** Required for every action but `inject`. */
  target?: ActionTarget;
  /** Required for `inject`. */
  message?: InjectedAnswer;
  by: OperatorContext;
  /** Bulk by filter only runs when confirmed (after a dry run). */
  confirmed?: boolean;
  /** Most items started per second. @default 50 for a bulk run, none for ids */
  ratePerSecond?: number;
}

/** A dry run: what a bulk action would touch. */
export interface ActionPreview {
  action: OperatorAction;
  list: RecordList;
  count: number;
  /** The first records it would touch (at most 10), oldest first. */
  sample: RecordView[];
}

/** An action run and its progress. */
export interface OperationView {
  id: string;
  action: OperatorAction;
  target: ActionTarget | { message: InjectedAnswer };
  actor: string;
  reason: string;
  channel: string;
  status: OperationStatus;
  total: number;
  succeeded: number;
  failed: number;
  skipped: number;
  ratePerSecond?: number;
  /** The node running it now. */
  leaseOwner?: string;
  error?: unknown;
  createdAt: number;
  updatedAt: number;
  finishedAt?: number;
}

/** What an operation did to one record. */
export interface OperationItemView {
  target: string;
  position: number;
  status: OperationItemStatus;
  outcome?: ItemOutcome;
  instanceId?: string;
  startedAt: number;
  finishedAt?: number;
}

/** An action's result on one record. */
export interface ItemOutcome {
  status: 'succeeded' | 'failed' | 'skipped';
  /** Human summary, e.g. "delivered to instance …", "not open (replayed)". */
  message: string;
  instanceId?: string;
  receive?: ReceiveOutcome;
  error?: unknown;
}
