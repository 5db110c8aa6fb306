import type { PageRequest, RecordFilter } from '@psi/core';
import { ConsoleRequestError } from './errors';

/** URL query fields of a list's filter form (shareable: the URL is the filter). */
export const FILTER_FIELDS = [
  'instance',
  'event',
  'service',
  'correlationKey',
  'businessKey',
  'messageId',
  'reason',
  'status',
  'guard',
  'owner',
  'from',
  'to',
  'olderThan',
  'newerThan',
] as const;
export type FilterField = (typeof FILTER_FIELDS)[number];

export type Query = Record<string, string | string[] | undefined>;

export function text(query: Query, name: string): string | undefined {
  const value = query[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first.trim() === '' ? undefined : first.trim();
}

const bad = (message: string) => new ConsoleRequestError(400, 'PSI_CONSOLE_BAD_REQUEST', message);

function duration(value: string, name: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value);
  if (!match) throw bad(`${name}: "${value}" is not a duration (90s, 15m, 2h, 7d)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 'ms'] ?? 1;
  return Math.round(Number(match[1]) * unit);
}

function time(value: string, name: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw bad(`${name}: "${value}" is not a date-time`);
  return ms;
}

/** The filter a query (or a posted form) describes. */
export function filterOf(query: Query): RecordFilter {
  const filter: RecordFilter = {
    instanceId: text(query, 'instance'),
    event: text(query, 'event'),
    service: text(query, 'service'),
    correlationKey: text(query, 'correlationKey'),
    businessKey: text(query, 'businessKey'),
    messageId: text(query, 'messageId'),
    reason: text(query, 'reason'),
    status: text(query, 'status'),
    guardId: text(query, 'guard'),
    owner: text(query, 'owner'),
  };
  const from = text(query, 'from');
  const to = text(query, 'to');
  const older = text(query, 'olderThan');
  const newer = text(query, 'newerThan');
  if (from) filter.from = time(from, 'from');
  if (to) filter.to = time(to, 'to');
  if (older) filter.minAgeMs = duration(older, 'olderThan');
  if (newer) filter.maxAgeMs = duration(newer, 'newerThan');
  return Object.fromEntries(
    Object.entries(filter).filter(([, v]) => v !== undefined),
  ) as RecordFilter;
}

export function pageOf(query: Query): PageRequest {
  const limit = text(query, 'limit');
  return {
    cursor: text(query, 'cursor'),
    order: text(query, 'order') === 'oldest' ? 'oldest' : 'newest',
    limit: limit ? Number(limit) : 50,
  };
}

/** The filter fields of a query, to carry into links and hidden form fields. */
export function filterFields(query: Query): Array<[FilterField, string]> {
  return FILTER_FIELDS.flatMap((name) => {
    const value = text(query, name);
    return value === undefined ? [] : [[name, value] as [FilterField, string]];
  });
}

export function queryString(fields: ReadonlyArray<[string, string]>): string {
  const params = new URLSearchParams(fields.map(([k, v]): [string, string] => [k, v]));
  const s = params.toString();
  return s ? `?${s}` : '';
}
