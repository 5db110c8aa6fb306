import { describe as describeError } from '../runtime/describe-error';
import type { PsiStore } from '../store/psi-store';
import type { ReadinessNotifier } from '../store/readiness-notifier';
import type { ActionExecutor, OperationContext } from './action-executor';
import type { ActionTarget, InjectedAnswer, ItemOutcome, OperatorAction } from './operation-types';
import { ACTION_LISTS, compileFilter } from './record-filter';
import {
  claimOperation,
  findOperation,
  finishOperation,
  renewOperation,
  runnableOperations,
  settleItem,
  startItem,
  unsettledItems,
  type OperationRow,
} from '../records/operation-runs';
import { targetKeys } from './read-model/record-queries';

/** Targets read from the store per page while a bulk run walks its filter. */
const PAGE = 100;

export interface OperationRunnerOptions {
  store: PsiStore;
  executor: ActionExecutor;
  /** This node's id; runs it holds carry it as lease owner. */
  nodeId: string;
  /** How long a run stays this node's without renewal (renewed every third). @default 30_000 */
  leaseMs?: number;
  /** How often the store is looked at for runs submitted elsewhere. @default 500 */
  pollMs?: number;
  clock?: () => number;
  /** Run only this operation (a CLI running its own store-only action). */
  only?: string;
  onError?: (error: unknown, what: string) => void;
}

/**
 * Runs operator actions: takes runnable operations from the store (pending, or running under a
 * lapsed lease, so a run survives the node that started it), walks their targets item by item at
 * their rate, and records each item's outcome. Woken by notices (`PsiStore.operationNotices`) and
 * by a short poll, so an action submitted by a CLI in another process runs at once.
 */
export class OperationRunner {
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly clock: () => number;
  private readonly origin: string;
  private timer: NodeJS.Timeout | undefined;
  private sleeping: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private unlisten: (() => void) | undefined;
  private readonly notices: ReadinessNotifier;

  constructor(private readonly options: OperationRunnerOptions) {
    this.leaseMs = options.leaseMs ?? 30_000;
    this.pollMs = options.pollMs ?? 500;
    this.clock = options.clock ?? Date.now;
    this.origin = `${options.nodeId}:${Math.random().toString(36).slice(2)}`;
    this.notices = options.store.operationNotices();
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    // A resync (the listening connection came back) may have lost notices: look now.
    this.unlisten = this.notices.subscribe(
      this.origin,
      () => this.wake(),
      () => this.wake(),
    );
    this.wake();
  }

  /** Looks for work now. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        this.wake();
      } else {
        this.timer = setTimeout(() => this.wake(), this.pollMs);
      }
    });
  }

  /** Tells every runner sharing the store (other processes too) that a run waits. */
  async announce(operationId: string): Promise<void> {
    this.wake();
    await this.notices.publish(this.origin, operationId);
  }

  /**
   * Stops taking work; the item in progress finishes, and a run this node held is handed back
   * (its lease expires now, so another node continues it at once).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unlisten?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sleeping) {
      clearTimeout(this.sleeping.timer);
      this.sleeping.resolve();
    }
    await this.running;
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        if (this.stopped) return;
        const now = this.clock();
        const ids = await this.options.store.read((tx) =>
          runnableOperations(
            tx,
            {
              nodeId: this.options.nodeId,
              actions: this.options.executor.actions,
              now,
              only: this.options.only,
            },
            5,
          ),
        );
        let ran = false;
        for (const id of ids) {
          if (this.stopped) return;
          const claimed = await this.options.store.transaction((tx) =>
            claimOperation(tx, id, this.lease()),
          );
          if (!claimed) continue;
          ran = true;
          await this.run(id);
        }
        if (!ran) return;
      }
    } catch (error) {
      this.options.onError?.(error, 'operation runner');
    }
  }

  private lease(): { nodeId: string; now: number; leaseUntil: number } {
    const now = this.clock();
    return { nodeId: this.options.nodeId, now, leaseUntil: now + this.leaseMs };
  }

  private async run(id: string): Promise<void> {
    const { store } = this.options;
    let lost = false;
    const renewal = setInterval(
      () => {
        store
          .transaction((tx) => renewOperation(tx, id, this.lease()))
          .then((kept) => {
            if (!kept) lost = true;
          })
          .catch((error: unknown) => this.options.onError?.(error, `lease of operation ${id}`));
      },
      Math.max(10, Math.floor(this.leaseMs / 3)),
    );
    try {
      const row = await store.transaction((tx) => findOperation(tx, id));
      if (!row) return;
      const action = row.action as OperatorAction;
      const selector = JSON.parse(row.selector) as ActionTarget | { message: InjectedAnswer };
      const context: OperationContext = {
        operationId: id,
        by: { actor: row.actor, reason: row.reason, channel: row.channel },
        message: 'message' in selector ? selector.message : undefined,
      };
      const limiter = this.rateLimiter(row.ratePerSecond);
      const item = async (target: string, advanceCursor: boolean): Promise<boolean> => {
        if (this.stopped || lost) return false;
        const startsAt = await limiter();
        if (this.stopped) return false;
        const state = await store.transaction((tx) =>
          startItem(tx, id, target, {
            nodeId: this.options.nodeId,
            now: startsAt,
            advanceCursor,
          }),
        );
        if (state === 'lost') {
          lost = true;
          return false;
        }
        if (state !== 'new' && state !== 'started') return true; // settled before
        await this.settle(
          id,
          target,
          await this.execute(action, target, context, state === 'started'),
        );
        return true;
      };
      // Items a dead node started and never settled come first, done idempotently.
      for (const target of await store.transaction((tx) => unsettledItems(tx, id))) {
        if (!(await item(target, false))) return this.pause(id, lost);
      }
      const complete = await this.walk(row, selector, item);
      if (!complete) return this.pause(id, lost);
      await store.transaction((tx) =>
        finishOperation(tx, id, { status: 'done', now: this.clock(), nodeId: this.options.nodeId }),
      );
    } catch (error) {
      // The run itself cannot go on (its filter no longer compiles, say): record why.
      await store
        .transaction((tx) =>
          finishOperation(tx, id, {
            status: 'failed',
            now: this.clock(),
            nodeId: this.options.nodeId,
            error: describeError(error),
          }),
        )
        .catch(() => undefined);
      this.options.onError?.(error, `operation ${id}`);
    } finally {
      clearInterval(renewal);
    }
  }

  /** Visits the run's targets after its cursor; false when it stopped before the end. */
  private async walk(
    row: OperationRow,
    selector: ActionTarget | { message: InjectedAnswer },
    item: (target: string, advanceCursor: boolean) => Promise<boolean>,
  ): Promise<boolean> {
    if ('message' in selector) return item('message', false);
    if ('ids' in selector) {
      for (const target of selector.ids) if (!(await item(target, false))) return false;
      return true;
    }
    const spec = ACTION_LISTS[row.action as Exclude<OperatorAction, 'inject'>];
    const filter = compileFilter(
      spec.list,
      { ...selector.filter, ...(spec.status ? { status: spec.status } : {}) },
      row.createdAt,
    );
    let after = row.cursor ?? undefined;
    for (;;) {
      const keys = await this.options.store.transaction((tx) =>
        targetKeys(
          tx,
          { ...filter, now: this.clock() },
          {
            after,
            bound: row.bound ?? undefined,
            limit: PAGE,
          },
        ),
      );
      if (keys.length === 0) return true;
      for (const key of keys) {
        if (!(await item(key, true))) return false;
        after = key;
      }
    }
  }

  private async execute(
    action: OperatorAction,
    target: string,
    context: OperationContext,
    resumed: boolean,
  ): Promise<ItemOutcome> {
    try {
      return await this.options.executor.execute(action, target, context, resumed);
    } catch (error) {
      return { status: 'failed', message: errorMessage(error), error: describeError(error) };
    }
  }

  private async settle(id: string, target: string, outcome: ItemOutcome): Promise<void> {
    await this.options.store.transaction((tx) => settleItem(tx, id, target, outcome, this.clock()));
  }

  /** Stopping (or the run was cancelled / taken): hand a run we still hold back at once. */
  private async pause(id: string, lost: boolean): Promise<void> {
    if (lost) return;
    await this.options.store.transaction((tx) =>
      renewOperation(tx, id, { nodeId: this.options.nodeId, now: this.clock(), leaseUntil: 0 }),
    );
  }

  /**
   * Spaces item starts to `ratePerSecond` and resolves with the time the item starts at, which
   * is what its record says. A timer may fire a millisecond before the clock reaches its slot,
   * so it sleeps again until the clock has; the recorded start is the slot at the earliest, so
   * recorded starts are never closer than the interval.
   */
  private rateLimiter(ratePerSecond: number | null): () => Promise<number> {
    if (!ratePerSecond) return async () => this.clock();
    const interval = 1000 / ratePerSecond;
    let next = 0;
    return async () => {
      let now = this.clock();
      const slot = Math.ceil(Math.max(now, next));
      next = Math.max(now, next) + interval;
      // A few times at most: a clock that does not follow the timers must not hold a run.
      for (let sleeps = 0; now < slot && sleeps < 4 && !this.stopped; sleeps++) {
        await this.sleep(Math.max(1, slot - now));
        now = this.clock();
      }
      return Math.max(now, slot);
    };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleeping = undefined;
        resolve();
      }, ms);
      this.sleeping = { timer, resolve };
    });
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
