import { OperationInvalidError, OperationNotFoundError } from '../errors';
import { AuditLog } from '../records/audit-log';
import { timeOrderedId } from '../store/time-ordered-id';
import type { OperationStatus } from '../store/entities/operation.entity';
import type { OperationItemStatus } from '../store/entities/operation-item.entity';
import type { PsiStore } from '../store/psi-store';
import { operatorEntry, StoreActions } from './action-executor';
import { OperationRunner } from './operation-runner';
import { DeadLetterQueue } from '../records/dead-letters';
import type {
  ActionPreview,
  ActionRequest,
  AuditEntryView,
  DeadLetterGroup,
  DeadLetterView,
  ExpectationView,
  GuardView,
  InstanceTimeline,
  InvocationView,
  OperationItemView,
  OperationView,
  OperatorContext,
  Overview,
  Page,
  PageRequest,
  ParkedView,
  RecordFilter,
  RecordList,
  RecordView,
} from './operation-types';
import { decodeCursor, encodeCursor } from './paging';
import { assertAction, assertList, compileFilter, compilePage } from './record-filter';
import { buildTimeline } from './timeline';
import {
  bulkFilter,
  checkContext,
  itemView,
  notFound,
  operationView,
  prepareRun,
} from './operation-submission';
import {
  findItems,
  findOperation,
  findOperations,
  finishOperation,
  insertOperation,
} from '../records/operation-runs';
import { activitySeries, overviewCounts, recentActivity } from './read-model/overview-queries';
import {
  countRecords,
  deadLetterGroups,
  findRecord,
  listRecords,
  sampleRecords,
} from './read-model/record-queries';

const OPERATOR_KINDS = [
  'replayed',
  'discarded',
  'thawed',
  'injected',
  'guard-released',
  'parked-released',
  'parked-expired',
  'operation',
] as const;

export interface PsiOperationsOptions {
  /** @default Date.now */
  clock?: () => number;
  /** Wakes this process's runner at once when an action is submitted here. */
  wake?: () => void;
}

/**
 * The operations API: what waits, is parked, dead, frozen or held, read from the store (so every
 * node sees the same), and operator actions on it. Actions are durable runs (`psi_operation`):
 * submitted here, carried out by any node's runner (a coordinator runs one; the CLI runs the
 * store-only ones itself), audited with actor, reason and channel.
 *
 * ```ts
 * const ops = coordinator.operations;            // or new PsiOperations(store)
 * const page = await ops.list('dead-letters', { reason: 'late' }, { limit: 20 });
 * const preview = await ops.preview({ action: 'replay', filter: { reason: 'late' } });
 * const run = await ops.submit({ action: 'replay', target: { filter: { reason: 'late' } },
 *   by: { actor: 'alice', reason: 'ERP back up', channel: 'api' }, confirmed: true });
 * await ops.waitFor(run.id);
 * ```
 */
export class PsiOperations {
  private readonly clock: () => number;
  private readonly audit: AuditLog;
  private readonly origin = `api:${timeOrderedId()}`;

  constructor(
    readonly store: PsiStore,
    private readonly options: PsiOperationsOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
    this.audit = new AuditLog(store, this.clock, undefined);
  }

  /** One page of a list, newest first unless `order: 'oldest'`. */
  async list(
    list: RecordList,
    filter: RecordFilter = {},
    page: PageRequest = {},
  ): Promise<Page<RecordView>> {
    const compiled = compileFilter(assertList(list), filter, this.clock());
    const { limit, order, cursor } = compilePage(page);
    const result = await this.store.transaction((tx) =>
      listRecords(tx, compiled, {
        limit,
        order,
        after: cursor === undefined ? undefined : decodeCursor(cursor),
      }),
    );
    return {
      items: result.items,
      nextCursor: result.more && result.lastKey ? encodeCursor(result.lastKey) : undefined,
    };
  }

  expectations(filter?: RecordFilter, page?: PageRequest): Promise<Page<ExpectationView>> {
    return this.list('expectations', filter, page) as Promise<Page<ExpectationView>>;
  }

  parked(filter?: RecordFilter, page?: PageRequest): Promise<Page<ParkedView>> {
    return this.list('parked', filter, page) as Promise<Page<ParkedView>>;
  }

  deadLetters(filter?: RecordFilter, page?: PageRequest): Promise<Page<DeadLetterView>> {
    return this.list('dead-letters', filter, page) as Promise<Page<DeadLetterView>>;
  }

  invocations(filter?: RecordFilter, page?: PageRequest): Promise<Page<InvocationView>> {
    return this.list('invocations', filter, page) as Promise<Page<InvocationView>>;
  }

  guards(filter?: RecordFilter, page?: PageRequest): Promise<Page<GuardView>> {
    return this.list('guards', filter, page) as Promise<Page<GuardView>>;
  }

  /** How many records of a list match. */
  async count(list: RecordList, filter: RecordFilter = {}): Promise<number> {
    const compiled = compileFilter(assertList(list), filter, this.clock());
    return this.store.transaction((tx) => countRecords(tx, compiled));
  }

  /** One record by id (a parked answer by its number); the list's not-found error otherwise. */
  async get(list: RecordList, id: string): Promise<RecordView> {
    const found = await this.store.transaction((tx) =>
      findRecord(tx, assertList(list), id, this.clock()),
    );
    if (!found) throw notFound(list, id);
    return found;
  }

  /** Dead letters grouped by reason, event and service (largest first). */
  async deadLetterGroups(filter: RecordFilter = {}): Promise<DeadLetterGroup[]> {
    const compiled = compileFilter('dead-letters', filter, this.clock());
    return this.store.transaction((tx) => deadLetterGroups(tx, compiled));
  }

  /** Everything about one instance: its records and its history in time order. */
  async timeline(instanceId: string): Promise<InstanceTimeline> {
    return buildTimeline(this.store, instanceId, this.clock());
  }

  /** Counts, and parked / dead-lettered / delivered per bucket over the last `windowMs`. */
  async overview(options: { windowMs?: number; buckets?: number } = {}): Promise<Overview> {
    const windowMs = options.windowMs ?? 24 * 3_600_000;
    const buckets = options.buckets ?? 24;
    const now = this.clock();
    const bucketMs = Math.max(1, Math.ceil(windowMs / buckets));
    const since = now - bucketMs * buckets;
    return this.store.transaction(async (tx) => ({
      at: now,
      ...(await overviewCounts(tx, now)),
      activity: await activitySeries(tx, since, bucketMs, buckets),
    }));
  }

  /** The latest operator actions in the audit trail, newest first. */
  async recentActions(
    page: { limit?: number; beforeSeq?: number } = {},
  ): Promise<AuditEntryView[]> {
    return this.store.transaction((tx) =>
      recentActivity(tx, OPERATOR_KINDS, { limit: page.limit ?? 50, before: page.beforeSeq }),
    );
  }

  /** A dry run: how many records a bulk action by filter would touch, and the first of them. */
  async preview(request: { action: string; filter?: RecordFilter }): Promise<ActionPreview> {
    const action = assertAction(request.action);
    if (action === 'inject') throw new OperationInvalidError('action', 'inject has no targets');
    const filter = bulkFilter(action, request.filter ?? {}, this.clock());
    return this.store.transaction(async (tx) => ({
      action,
      list: filter.list,
      count: await countRecords(tx, filter),
      sample: await sampleRecords(tx, filter, 10),
    }));
  }

  /**
   * Submits an action run: checked (reason, targets, confirmation of a bulk run), stored, then
   * carried out by a runner (this process's at once, else any node's). Returns the run as stored.
   */
  async submit(request: ActionRequest): Promise<OperationView> {
    const { row, by, bulk } = await prepareRun(this.store, request, this.clock());
    const action = row.action;
    await this.audit.transaction(async (tx, write) => {
      await insertOperation(tx, row);
      if (bulk) {
        await write(
          operatorEntry(
            'operation',
            { operationId: row.id, by },
            {},
            {
              event: 'submitted',
              action,
              filter: bulk.filter,
              count: bulk.count,
            },
          ),
        );
      }
    });
    this.options.wake?.();
    await this.store.operationNotices().publish(this.origin, row.id);
    return operationView(row);
  }

  /** A run and its progress. */
  async operation(id: string): Promise<OperationView> {
    const row = await this.store.transaction((tx) => findOperation(tx, id));
    if (!row) throw new OperationNotFoundError(id);
    return operationView(row);
  }

  /** Runs, newest first. */
  async operations(
    filter: { status?: OperationStatus[]; limit?: number; before?: string } = {},
  ): Promise<OperationView[]> {
    const rows = await this.store.transaction((tx) =>
      findOperations(tx, {
        status: filter.status,
        limit: filter.limit ?? 50,
        before: filter.before,
      }),
    );
    return rows.map(operationView);
  }

  /** What a run did to each target, in the order it did it. */
  async items(
    id: string,
    page: { limit?: number; afterPosition?: number; status?: OperationItemStatus } = {},
  ): Promise<OperationItemView[]> {
    const rows = await this.store.transaction((tx) =>
      findItems(tx, id, {
        limit: page.limit ?? 100,
        afterPosition: page.afterPosition,
        status: page.status,
      }),
    );
    return rows.map(itemView);
  }

  /** Stops a pending or running run after its current item; false when it had ended. */
  async cancel(id: string, by: OperatorContext): Promise<boolean> {
    const context = checkContext('cancel', by);
    return this.audit.transaction(async (tx, write) => {
      if (!(await findOperation(tx, id))) throw new OperationNotFoundError(id);
      const cancelled = await finishOperation(tx, id, { status: 'cancelled', now: this.clock() });
      if (cancelled) {
        await write(
          operatorEntry('operation', { operationId: id, by: context }, {}, { event: 'cancelled' }),
        );
      }
      return cancelled;
    });
  }

  /**
   * Resolves once the run ended (done, failed, cancelled), or with its state at `timeoutMs`;
   * `onProgress` sees every change of its counters. Polls the store (the run may be on any node).
   */
  async waitFor(
    id: string,
    options: {
      timeoutMs?: number;
      pollMs?: number;
      onProgress?: (run: OperationView) => void;
    } = {},
  ): Promise<OperationView> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    let seen = '';
    for (;;) {
      const run = await this.operation(id);
      const state = `${run.status}/${run.succeeded}/${run.failed}/${run.skipped}`;
      if (state !== seen) {
        seen = state;
        options.onProgress?.(run);
      }
      if (isFinished(run.status) || Date.now() >= deadline) return run;
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 100));
    }
  }

  /**
   * A runner for the store-only actions (discard, expire-parked, release-guard) in this process,
   * for tools without a coordinator (the CLI runs the action it submitted, `only`). Call
   * `start()`, and `stop()` when done.
   */
  storeActionRunner(options: { nodeId: string; only?: string; leaseMs?: number }): OperationRunner {
    return new OperationRunner({
      store: this.store,
      executor: new StoreActions(
        this.audit,
        new DeadLetterQueue(this.store, this.clock),
        this.clock,
      ),
      nodeId: options.nodeId,
      only: options.only,
      leaseMs: options.leaseMs,
      clock: this.clock,
    });
  }
}

export function isFinished(status: OperationStatus): boolean {
  return status === 'done' || status === 'failed' || status === 'cancelled';
}
