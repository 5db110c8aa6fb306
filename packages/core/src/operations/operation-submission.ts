import {
  DeadLetterNotFoundError,
  GuardNotHeldError,
  InvocationNotFoundError,
  OperationInvalidError,
  OperationNotConfirmedError,
  OperationReasonRequiredError,
  ParkedAnswerNotFoundError,
} from '../errors';
import { timeOrderedId } from '../store/time-ordered-id';
import type { PsiStore } from '../store/psi-store';
import type {
  ActionRequest,
  OperationItemView,
  OperationView,
  OperatorContext,
  RecordFilter,
  RecordList,
} from './operation-types';
import { ACTION_LISTS, assertAction, compileFilter, type CompiledFilter } from './record-filter';
import type { OperationItemRow, OperationRow } from '../records/operation-runs';
import { countRecords, findRecord, highestKey } from './read-model/record-queries';

// Submitting an action run: the checks (reason, targets, confirmation) and the row it becomes,
// and the views of runs and items.

/** Default items per second of a bulk run (Temporal's batch default is 50 too). */
const DEFAULT_BULK_RATE = 50;
const MAX_IDS = 1000;

/** Checks a request and builds its run row (not yet stored); `bulk` for a run by filter. */
export async function prepareRun(
  store: PsiStore,
  request: ActionRequest,
  now: number,
): Promise<{
  row: OperationRow;
  by: OperatorContext;
  bulk?: { filter: RecordFilter; count: number };
}> {
  const action = assertAction(request.action);
  const by = checkContext(action, request.by);
  const row: OperationRow = {
    id: timeOrderedId(),
    action,
    selector: '',
    actor: by.actor,
    reason: by.reason,
    channel: by.channel,
    status: 'pending',
    ratePerSecond: null,
    bound: null,
    cursor: null,
    total: 1,
    succeeded: 0,
    failed: 0,
    skipped: 0,
    error: null,
    leaseOwner: null,
    leaseExpiresAt: null,
    createdAt: now,
    updatedAt: now,
    finishedAt: null,
  };
  if (request.ratePerSecond !== undefined) {
    const rate = request.ratePerSecond;
    if (typeof rate !== 'number' || !(rate > 0) || rate > 10_000)
      throw new OperationInvalidError('ratePerSecond', 'must be a number above 0, at most 10000');
    row.ratePerSecond = rate;
  }
  let bulk: { filter: RecordFilter; count: number } | undefined;
  if (action === 'inject') {
    const message = request.message;
    if (!message || typeof message.event !== 'string' || message.event.length === 0)
      throw new OperationInvalidError('message.event', 'inject needs a message with an event');
    if (request.target)
      throw new OperationInvalidError('target', 'inject takes a message, not targets');
    row.selector = JSON.stringify({ message });
  } else if (request.target && 'ids' in request.target) {
    const ids = request.target.ids;
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_IDS)
      throw new OperationInvalidError('target.ids', `give 1 to ${MAX_IDS} ids`);
    const list = ACTION_LISTS[action].list;
    await store.transaction(async (tx) => {
      for (const id of ids) {
        if (typeof id !== 'string' || !(await findRecord(tx, list, id, now)))
          throw notFound(list, String(id));
      }
    });
    row.selector = JSON.stringify({ ids: [...new Set(ids)] });
    row.total = new Set(ids).size;
  } else if (request.target && 'filter' in request.target) {
    const filter = bulkFilter(action, request.target.filter, now);
    const { count, bound } = await store.transaction(async (tx) => ({
      count: await countRecords(tx, filter),
      bound: await highestKey(tx, filter),
    }));
    if (request.confirmed !== true) throw new OperationNotConfirmedError(action, count);
    row.selector = JSON.stringify({ filter: request.target.filter });
    row.total = count;
    // Nothing matches: nothing created later is touched either (a bound below every key).
    row.bound = bound ?? '';
    row.ratePerSecond ??= DEFAULT_BULK_RATE;
    bulk = { filter: request.target.filter, count };
  } else {
    throw new OperationInvalidError('target', 'give { ids } or { filter }');
  }
  return { row, by, bulk };
}

export function bulkFilter(
  action: Exclude<ActionRequest['action'], 'inject'>,
  filter: RecordFilter,
  now: number,
): CompiledFilter {
  const spec = ACTION_LISTS[action];
  if (spec.status && filter.status !== undefined && filter.status !== spec.status) {
    throw new OperationInvalidError(
      'filter.status',
      `${action} applies to ${spec.list} with status "${spec.status}" only`,
    );
  }
  return compileFilter(
    spec.list,
    { ...filter, ...(spec.status ? { status: spec.status } : {}) },
    now,
  );
}

export function checkContext(action: string, by: OperatorContext | undefined): OperatorContext {
  const actor = typeof by?.actor === 'string' ? by.actor.trim() : '';
  if (!actor) throw new OperationInvalidError('by.actor', 'every action needs an actor');
  const reason = typeof by?.reason === 'string' ? by.reason.trim() : '';
  if (!reason) throw new OperationReasonRequiredError(action);
  const channel = typeof by?.channel === 'string' && by.channel.trim() ? by.channel.trim() : 'api';
  return { actor, reason, channel };
}

export function notFound(list: RecordList, id: string): Error {
  switch (list) {
    case 'dead-letters':
      return new DeadLetterNotFoundError(id);
    case 'invocations':
      return new InvocationNotFoundError(id);
    case 'parked':
      return new ParkedAnswerNotFoundError(id);
    case 'guards':
      return new GuardNotHeldError(id);
    case 'expectations':
      return new OperationInvalidError('id', `no expectation ${id}`);
  }
}

export function operationView(row: OperationRow): OperationView {
  return {
    id: row.id,
    action: row.action as OperationView['action'],
    target: JSON.parse(row.selector) as OperationView['target'],
    actor: row.actor,
    reason: row.reason,
    channel: row.channel,
    status: row.status,
    total: row.total,
    succeeded: row.succeeded,
    failed: row.failed,
    skipped: row.skipped,
    ratePerSecond: row.ratePerSecond ?? undefined,
    leaseOwner: row.leaseOwner ?? undefined,
    error: row.error === null ? undefined : (JSON.parse(row.error) as unknown),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    finishedAt: row.finishedAt ?? undefined,
  };
}

export function itemView(row: OperationItemRow): OperationItemView {
  return {
    target: row.target,
    position: row.position,
    status: row.status,
    outcome:
      row.outcome === null ? undefined : (JSON.parse(row.outcome) as OperationItemView['outcome']),
    instanceId: row.instanceId ?? undefined,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt ?? undefined,
  };
}
