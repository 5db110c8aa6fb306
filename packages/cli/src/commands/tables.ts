import type {
  DeadLetterGroup,
  DeadLetterView,
  ExpectationView,
  GuardView,
  InvocationView,
  OperationItemView,
  OperationView,
  ParkedView,
  RecordList,
  RecordView,
  TimelineEntry,
} from '@psi/core';
import { brief, duration, relative, type Column } from '../output';

// The text tables of each list: full ids (they are copied into the next command), the rest cut
// to fit the terminal.

const id = <T extends { id: string }>(): Column<T> => ({
  header: 'ID',
  cell: (r) => r.id,
  shrink: false,
});

export function listColumns(list: RecordList, now: number): Array<Column<RecordView>> {
  const columns: { [K in RecordList]: Array<Column<never>> } = {
    expectations: [
      id<ExpectationView>(),
      { header: 'INSTANCE', cell: (e: ExpectationView) => e.instanceId, shrink: false },
      { header: 'EVENT', cell: (e: ExpectationView) => e.event },
      { header: 'WAIT STATE', cell: (e: ExpectationView) => e.waitState },
      { header: 'SERVICE', cell: (e: ExpectationView) => e.service ?? '' },
      { header: 'STATUS', cell: (e: ExpectationView) => e.status },
      {
        header: 'DEADLINE',
        cell: (e: ExpectationView) =>
          e.deadline === undefined
            ? ''
            : e.deadline < now && e.status === 'open'
              ? `overdue ${duration(now - e.deadline)}`
              : relative(e.deadline, now),
      },
      { header: 'PARKED', cell: (e: ExpectationView) => String(e.parkedAnswers) },
    ],
    parked: [
      id<ParkedView>(),
      { header: 'EVENT', cell: (p: ParkedView) => p.event },
      { header: 'WHY', cell: (p: ParkedView) => p.reason },
      { header: 'INSTANCE', cell: (p: ParkedView) => p.instanceId ?? '', shrink: false },
      { header: 'GOES TO', cell: (p: ParkedView) => p.waitState ?? '' },
      { header: 'SERVICE', cell: (p: ParkedView) => p.service ?? '' },
      { header: 'AGE', cell: (p: ParkedView) => duration(now - p.receivedAt) },
      { header: 'TTL LEFT', cell: (p: ParkedView) => duration(Math.max(0, p.ttlLeftMs)) },
    ],
    'dead-letters': [
      id<DeadLetterView>(),
      { header: 'REASON', cell: (d: DeadLetterView) => d.reason },
      { header: 'EVENT', cell: (d: DeadLetterView) => d.event },
      { header: 'SERVICE', cell: (d: DeadLetterView) => d.service ?? '' },
      { header: 'INSTANCE', cell: (d: DeadLetterView) => d.instanceId ?? '', shrink: false },
      { header: 'STATUS', cell: (d: DeadLetterView) => d.status },
      { header: 'AGE', cell: (d: DeadLetterView) => duration(now - d.createdAt) },
      { header: 'MESSAGE ID', cell: (d: DeadLetterView) => d.messageId },
    ],
    invocations: [
      id<InvocationView>(),
      { header: 'INSTANCE', cell: (i: InvocationView) => i.instanceId, shrink: false },
      { header: 'STEP', cell: (i: InvocationView) => i.step },
      { header: 'SERVICE', cell: (i: InvocationView) => i.service },
      { header: 'STATUS', cell: (i: InvocationView) => i.status },
      { header: 'ATTEMPTS', cell: (i: InvocationView) => String(i.attempts) },
      { header: 'LAST ERROR', cell: (i: InvocationView) => brief(i.lastError) },
      { header: 'AGE', cell: (i: InvocationView) => duration(now - i.createdAt) },
    ],
    guards: [
      id<GuardView>(),
      { header: 'OWNER', cell: (g: GuardView) => g.owner },
      { header: 'STATUS', cell: (g: GuardView) => g.status },
      {
        header: 'TTL LEFT',
        cell: (g: GuardView) => (g.ttlLeftMs > 0 ? duration(g.ttlLeftMs) : ''),
      },
      { header: 'SINCE', cell: (g: GuardView) => relative(g.startedAt, now) },
    ],
  };
  return columns[list] as Array<Column<RecordView>>;
}

export const groupColumns: Array<Column<DeadLetterGroup>> = [
  { header: 'COUNT', cell: (g) => String(g.count), shrink: false },
  { header: 'REASON', cell: (g) => g.reason },
  { header: 'EVENT', cell: (g) => g.event },
  { header: 'SERVICE', cell: (g) => g.service ?? '' },
  { header: 'OLDEST', cell: (g) => new Date(g.oldest).toISOString() },
  { header: 'NEWEST', cell: (g) => new Date(g.newest).toISOString() },
];

export const timelineColumns: Array<Column<TimelineEntry>> = [
  { header: 'AT', cell: (e) => new Date(e.at).toISOString(), shrink: false },
  { header: 'SOURCE', cell: (e) => e.source },
  { header: 'WHAT', cell: (e) => e.summary },
];

export const operationColumns: Array<Column<OperationView>> = [
  { header: 'ID', cell: (o) => o.id, shrink: false },
  { header: 'ACTION', cell: (o) => o.action },
  { header: 'STATUS', cell: (o) => o.status },
  { header: 'DONE', cell: (o) => `${o.succeeded + o.failed + o.skipped}/${o.total}` },
  { header: 'FAILED', cell: (o) => String(o.failed) },
  { header: 'BY', cell: (o) => `${o.actor} (${o.channel})` },
  { header: 'REASON', cell: (o) => o.reason },
];

export const itemColumns: Array<Column<OperationItemView>> = [
  { header: '#', cell: (i) => String(i.position), shrink: false },
  { header: 'TARGET', cell: (i) => i.target, shrink: false },
  { header: 'RESULT', cell: (i) => i.status },
  { header: 'INSTANCE', cell: (i) => i.instanceId ?? '' },
  { header: 'OUTCOME', cell: (i) => i.outcome?.message ?? '' },
];
