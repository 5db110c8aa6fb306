import { DEAD_LETTER_REASONS } from '@psi/core';
import type {
  DeadLetterView,
  ExpectationView,
  GuardView,
  InvocationView,
  OperatorAction,
  ParkedView,
  RecordList,
  RecordView,
} from '@psi/core';
import { html, type SafeHtml } from '../html';
import { ago, type PageContext } from '../layout';
import type { FilterField } from '../query-params';

// Per list: its title, the filter fields it has (with choices), its columns and its actions.

export interface ListPageSpec {
  title: string;
  filters: FilterField[];
  choices: Partial<Record<FilterField, string[]>>;
  columns: Array<[string, (row: never, ctx: PageContext) => SafeHtml | string]>;
  actions: Array<{ action: OperatorAction; label: string }>;
}

const TIME: FilterField[] = ['from', 'to', 'olderThan', 'newerThan'];
const REASONS = [...DEAD_LETTER_REASONS];

const link = (ctx: PageContext, path: string, label: string) =>
  html`<a href="${ctx.prefix}${path}">${label}</a>`;
const instance = (ctx: PageContext, id: string | undefined) =>
  id ? link(ctx, `/instances/${encodeURIComponent(id)}`, id) : '';

export const LIST_PAGES: Record<RecordList, ListPageSpec> = {
  expectations: {
    title: 'Waiting: open expectations',
    filters: ['instance', 'event', 'service', 'correlationKey', 'businessKey', 'status', ...TIME],
    choices: { status: ['open', 'claimed', 'delivered', 'timed-out', 'superseded', 'cancelled'] },
    columns: [
      ['Instance', (e: ExpectationView, ctx) => instance(ctx, e.instanceId)],
      ['Waits for', (e: ExpectationView) => `"${e.event}" at ${e.waitState}`],
      ['Service', (e: ExpectationView) => e.service ?? ''],
      ['Status', (e: ExpectationView) => e.status],
      [
        'Until',
        (e: ExpectationView, ctx) => (e.deadline ? ago(e.deadline, ctx.now) : 'no deadline'),
      ],
      ['Parked', (e: ExpectationView) => String(e.parkedAnswers)],
      ['Key', (e: ExpectationView) => e.businessKey ?? e.correlationKey ?? ''],
    ],
    actions: [],
  },
  parked: {
    title: 'Parked answers',
    filters: [
      'instance',
      'event',
      'service',
      'correlationKey',
      'businessKey',
      'messageId',
      'reason',
      ...TIME,
    ],
    choices: { reason: ['no-expectation', 'instance-not-ready'] },
    columns: [
      ['#', (p: ParkedView, ctx) => link(ctx, `/parked/${p.id}`, p.id)],
      ['Event', (p: ParkedView) => p.event],
      ['Why', (p: ParkedView) => p.reason],
      ['Instance', (p: ParkedView, ctx) => instance(ctx, p.instanceId)],
      ['Goes to', (p: ParkedView) => p.waitState ?? ''],
      ['Received', (p: ParkedView, ctx) => ago(p.receivedAt, ctx.now)],
      ['Expires', (p: ParkedView, ctx) => ago(p.expiresAt, ctx.now)],
    ],
    actions: [
      { action: 'release-parked', label: 'Release now' },
      { action: 'expire-parked', label: 'Expire now' },
    ],
  },
  'dead-letters': {
    title: 'Dead letters',
    filters: [
      'instance',
      'event',
      'service',
      'correlationKey',
      'businessKey',
      'messageId',
      'reason',
      'status',
      ...TIME,
    ],
    choices: { reason: REASONS, status: ['open', 'replayed', 'discarded'] },
    columns: [
      ['Id', (d: DeadLetterView, ctx) => link(ctx, `/dead-letters/${d.id}`, d.id)],
      ['Reason', (d: DeadLetterView) => d.reason],
      ['Event', (d: DeadLetterView) => d.event],
      ['Service', (d: DeadLetterView) => d.service ?? ''],
      ['Instance', (d: DeadLetterView, ctx) => instance(ctx, d.instanceId)],
      ['Status', (d: DeadLetterView) => d.status],
      ['Age', (d: DeadLetterView, ctx) => ago(d.createdAt, ctx.now)],
    ],
    actions: [
      { action: 'replay', label: 'Replay' },
      { action: 'discard', label: 'Discard' },
    ],
  },
  invocations: {
    title: 'Invocations',
    filters: ['instance', 'service', 'correlationKey', 'status', ...TIME],
    choices: { status: ['running', 'waiting', 'completed', 'failed', 'frozen'] },
    columns: [
      ['Id', (i: InvocationView, ctx) => link(ctx, `/invocations/${i.id}`, i.id)],
      ['Instance', (i: InvocationView, ctx) => instance(ctx, i.instanceId)],
      ['Step', (i: InvocationView) => i.step],
      ['Service', (i: InvocationView) => i.service],
      ['Status', (i: InvocationView) => i.status],
      ['Attempts', (i: InvocationView) => String(i.attempts)],
      ['Last error', (i: InvocationView) => errorText(i.lastError)],
    ],
    actions: [{ action: 'thaw', label: 'Thaw' }],
  },
  guards: {
    title: 'Process guards',
    filters: ['guard', 'owner', 'status', ...TIME],
    choices: { status: ['held', 'expired'] },
    columns: [
      ['Guard', (g: GuardView, ctx) => link(ctx, `/guards/${encodeURIComponent(g.id)}`, g.id)],
      ['Owner', (g: GuardView) => g.owner],
      ['Status', (g: GuardView) => g.status],
      ['Since', (g: GuardView, ctx) => ago(g.startedAt, ctx.now)],
      ['Expires', (g: GuardView, ctx) => ago(g.expiresAt, ctx.now)],
    ],
    actions: [{ action: 'release-guard', label: 'Release' }],
  },
};

export function errorText(error: unknown): string {
  if (error && typeof error === 'object' && 'message' in error) return String(error.message);
  return error === undefined ? '' : JSON.stringify(error);
}

export function cells(
  list: RecordList,
  row: RecordView,
  ctx: PageContext,
): Array<SafeHtml | string> {
  return LIST_PAGES[list].columns.map(([, cell]) =>
    (cell as (r: RecordView, c: PageContext) => SafeHtml | string)(row, ctx),
  );
}

export const FIELD_LABELS: Record<FilterField, string> = {
  instance: 'Instance',
  event: 'Event',
  service: 'Service',
  correlationKey: 'Correlation key',
  businessKey: 'Business key',
  messageId: 'Message id',
  reason: 'Reason',
  status: 'Status',
  guard: 'Guard',
  owner: 'Owner',
  from: 'From',
  to: 'To',
  olderThan: 'Older than',
  newerThan: 'Newer than',
};
