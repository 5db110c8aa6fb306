import { OperationInvalidError } from '../errors';
import type { DeadLetterReason } from '../spi/transport';
import type { OperatorAction, PageRequest, RecordFilter, RecordList } from './operation-types';

type FilterField = keyof RecordFilter;

/** Every DeadLetterReason, for filters and forms. */
export const DEAD_LETTER_REASONS: readonly DeadLetterReason[] = [
  'expired',
  'ambiguous',
  'invalid',
  'late',
  'superseded',
  'handler-failed',
  'interrupted',
  'rejected',
  'parking-full',
];

const TIME: FilterField[] = ['from', 'to', 'minAgeMs', 'maxAgeMs'];

/** Which filters each list has (see RecordFilter). */
const SUPPORTED: Record<RecordList, ReadonlySet<FilterField>> = {
  expectations: new Set<FilterField>([
    'instanceId',
    'event',
    'service',
    'correlationKey',
    'businessKey',
    'status',
    ...TIME,
  ]),
  parked: new Set<FilterField>([
    'instanceId',
    'event',
    'service',
    'correlationKey',
    'businessKey',
    'messageId',
    'reason',
    ...TIME,
  ]),
  'dead-letters': new Set<FilterField>([
    'instanceId',
    'event',
    'service',
    'correlationKey',
    'businessKey',
    'messageId',
    'reason',
    'status',
    ...TIME,
  ]),
  invocations: new Set<FilterField>(['instanceId', 'service', 'correlationKey', 'status', ...TIME]),
  guards: new Set<FilterField>(['guardId', 'owner', 'status', ...TIME]),
};

/** Allowed values of `status` and `reason` per list. */
const VALUES: Partial<Record<RecordList, Partial<Record<FilterField, readonly string[]>>>> = {
  expectations: {
    status: ['open', 'claimed', 'delivered', 'timed-out', 'superseded', 'cancelled'],
  },
  parked: { reason: ['no-expectation', 'instance-not-ready'] },
  'dead-letters': {
    status: ['open', 'replayed', 'discarded'],
    reason: DEAD_LETTER_REASONS,
  },
  invocations: { status: ['running', 'waiting', 'completed', 'failed', 'frozen'] },
  guards: { status: ['held', 'expired'] },
};

export const RECORD_LISTS: readonly RecordList[] = [
  'expectations',
  'parked',
  'dead-letters',
  'invocations',
  'guards',
];

/** The list each action takes its targets from, and the state a target must be in. */
export const ACTION_LISTS: Record<
  Exclude<OperatorAction, 'inject'>,
  { list: RecordList; status?: string }
> = {
  replay: { list: 'dead-letters', status: 'open' },
  discard: { list: 'dead-letters', status: 'open' },
  thaw: { list: 'invocations', status: 'frozen' },
  'release-guard': { list: 'guards', status: 'held' },
  'release-parked': { list: 'parked' },
  'expire-parked': { list: 'parked' },
};

export const OPERATOR_ACTIONS: readonly OperatorAction[] = [
  'replay',
  'discard',
  'thaw',
  'release-guard',
  'release-parked',
  'expire-parked',
  'inject',
];

/** A filter checked against its list, with age turned into a time window at `now`. */
export interface CompiledFilter extends Omit<RecordFilter, 'minAgeMs' | 'maxAgeMs'> {
  list: RecordList;
  now: number;
}

export function assertList(list: string): RecordList {
  if (!RECORD_LISTS.includes(list as RecordList)) {
    throw new OperationInvalidError('list', `unknown list "${list}" (${RECORD_LISTS.join(', ')})`);
  }
  return list as RecordList;
}

export function assertAction(action: string): OperatorAction {
  if (!OPERATOR_ACTIONS.includes(action as OperatorAction)) {
    throw new OperationInvalidError(
      'action',
      `unknown action "${action}" (${OPERATOR_ACTIONS.join(', ')})`,
    );
  }
  return action as OperatorAction;
}

/** Checks `filter` for `list` (unknown or unsupported fields, bad values) and resolves ages. */
export function compileFilter(list: RecordList, filter: RecordFilter, now: number): CompiledFilter {
  const supported = SUPPORTED[list];
  const compiled: CompiledFilter = { list, now };
  for (const [name, value] of Object.entries(filter) as Array<[FilterField, unknown]>) {
    if (value === undefined || value === '') continue;
    if (!supported.has(name)) {
      throw new OperationInvalidError(
        `filter.${name}`,
        `the ${list} list has no "${name}" filter (it has: ${[...supported].join(', ')})`,
      );
    }
    if (TIME.includes(name)) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new OperationInvalidError(`filter.${name}`, 'must be a non-negative number (ms)');
      }
      continue;
    }
    if (typeof value !== 'string')
      throw new OperationInvalidError(`filter.${name}`, 'must be a string');
    const allowed = VALUES[list]?.[name];
    if (allowed && !allowed.includes(value)) {
      throw new OperationInvalidError(
        `filter.${name}`,
        `"${value}" is not one of ${allowed.join(', ')}`,
      );
    }
    (compiled as unknown as Record<string, unknown>)[name] = value;
  }
  const bounds = [filter.from, filter.maxAgeMs === undefined ? undefined : now - filter.maxAgeMs];
  const lower = bounds.filter((v): v is number => v !== undefined);
  if (lower.length > 0) compiled.from = Math.max(...lower);
  const uppers = [filter.to, filter.minAgeMs === undefined ? undefined : now - filter.minAgeMs + 1];
  const upper = uppers.filter((v): v is number => v !== undefined);
  if (upper.length > 0) compiled.to = Math.min(...upper);
  return compiled;
}

/** Page size and order with defaults applied. */
export function compilePage(page: PageRequest = {}): Required<Omit<PageRequest, 'cursor'>> & {
  cursor?: string;
} {
  const limit = page.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new OperationInvalidError('limit', 'must be an integer from 1 to 1000');
  }
  const order = page.order ?? 'newest';
  if (order !== 'newest' && order !== 'oldest') {
    throw new OperationInvalidError('order', 'must be "newest" or "oldest"');
  }
  return { limit, order, cursor: page.cursor };
}
