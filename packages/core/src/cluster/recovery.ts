import { instancesWithPendingTimeouts } from '../records/expectations';
import { instancesWithParkedAnswers } from '../records/parked-answers';
import type { NodeLiveness } from '../store/node-liveness';
import type { PsiStore } from '../store/psi-store';
import type { ClaimRecovery, ClaimRecoveryResult } from './claim-recovery';
import type { PsiLogger } from '../logging/psi-logger';
import type { Correlator } from '../correlation/correlator';
import type { Invoker } from '../invocation/invoker';
import type { NodeLeases } from './node-leases';
import type { TaskTracker } from '../runtime/task-tracker';

/** How many recoveries run at once: enough to drain a dead node's work in seconds, not a flood. */
const CONCURRENCY = 16;

/** What one recovery round finished, as logged. */
export interface RecoveryCounts {
  /** Claimed deliveries finished: the handler re-run and the engine signalled. */
  redelivered: number;
  /** Claimed deliveries the engine had taken already: recorded as delivered. */
  recorded: number;
  /** Claimed deliveries that ended as a dead letter (the instance moved on, the handler failed). */
  deadLettered: number;
  /** Running invocations taken over and started again (their outbox replayed). */
  invocations: number;
  /** Instances with parked answers or pending timeouts that waited: released. */
  released: number;
  /** Ended instances whose leftovers (parked answers, pending timeouts) were settled. */
  ended: number;
}

/**
 * Takes over what stopped nodes left, and settles what a crash left behind:
 *
 * - at start, this node's own claims and leases (its earlier process under the same `nodeId`
 *   is gone: on PostgreSQL once this process holds the id's liveness lock; on SQLite, where
 *   processes do not see each other, a node's id is taken to be its own);
 * - at start and every sweep, the claims and leases of nodes found dead (NodeLiveness) and those
 *   whose expiry passed;
 * - at start, instances with parked answers or pending timeouts: released when they wait (an
 *   engine restored before the coordinator listened), settled when they ended (the end event
 *   lost in a crash).
 *
 * No cap: every page is taken, `CONCURRENCY` at a time. What it finished is logged at info.
 */
export class Recovery {
  // Work recovered in this process right now: a sweep does not start it twice.
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly deps: {
      store: PsiStore;
      nodeId: string;
      logger: PsiLogger;
      leases: NodeLeases;
      liveness: NodeLiveness;
      invoker: Invoker;
      claims: ClaimRecovery;
      correlator: Correlator;
      tasks: TaskTracker;
    },
  ) {}

  /**
   * The start-up round: own work (when `own`: this process holds its id's liveness mark, so
   * no other live process has it), dead nodes' and lapsed work, leftovers.
   */
  async atStart(own: boolean): Promise<RecoveryCounts> {
    const { nodeId } = this.deps;
    if (!own) {
      this.deps.logger.warn(
        `Another live session holds node id "${nodeId}": its claims and leases are left to it. Give every live node its own nodeId.`,
      );
    }
    await this.findDead();
    const counts = emptyCounts();
    await this.takeOver(own, counts);
    await this.settleLeftovers(counts);
    this.log('Recovery at start', counts);
    return counts;
  }

  /** A periodic round: dead nodes' work (as soon as their liveness mark is gone) and lapsed work. */
  async sweep(): Promise<RecoveryCounts> {
    await this.deps.liveness.retry();
    await this.findDead();
    const counts = emptyCounts();
    await this.takeOver(false, counts);
    this.log("Recovery of stopped nodes' work", counts);
    return counts;
  }

  private async findDead(): Promise<void> {
    const { leases, liveness, nodeId } = this.deps;
    if (!liveness.seesOtherNodes) return;
    const owners = (await leases.owners()).filter((owner) => owner !== nodeId);
    const dead = owners.length > 0 ? await liveness.deadAmong(owners) : undefined;
    leases.markDead(dead ? [...dead] : []);
  }

  private async takeOver(own: boolean, counts: RecoveryCounts): Promise<void> {
    const { leases, claims, invoker } = this.deps;
    // Claims first: each is a delivery whose answer already won; then the invocations.
    await this.pages(
      (after) => leases.takeableClaims(own, after),
      (row) => row.id,
      async (row) => count(counts, await claims.finish(row)),
    );
    // An invocation may wait long (a retry's backoff): each runs as its own background task.
    for (let after = ''; ;) {
      const ids = await leases.takeableInvocations(after);
      if (ids.length === 0) break;
      after = ids[ids.length - 1];
      for (const id of ids) {
        if (this.inFlight.has(id)) continue;
        this.inFlight.add(id);
        counts.invocations++;
        this.deps.tasks.track(`take-over of invocation ${id}`, () =>
          invoker.run(id).finally(() => this.inFlight.delete(id)),
        );
      }
    }
  }

  private async settleLeftovers(counts: RecoveryCounts): Promise<void> {
    const instances = await this.deps.store.transaction(async (tx) => [
      ...new Set([
        ...(await instancesWithParkedAnswers(tx)),
        ...(await instancesWithPendingTimeouts(tx)),
      ]),
    ]);
    await runLimited(instances, async (instanceId) => {
      const result = await this.deps.correlator.settleLeftovers(instanceId);
      if (result === 'released') counts.released++;
      if (result === 'ended') counts.ended++;
    });
  }

  /** Reads pages until one is empty and runs `work` on each row, `CONCURRENCY` at a time. */
  private async pages<T>(
    page: (afterId: string) => Promise<T[]>,
    idOf: (row: T) => string,
    work: (row: T) => Promise<void>,
  ): Promise<void> {
    let after = '';
    for (;;) {
      const rows = await page(after);
      if (rows.length === 0) return;
      after = idOf(rows[rows.length - 1]);
      const fresh = rows.filter((row) => !this.inFlight.has(idOf(row)));
      await runLimited(fresh, async (row) => {
        const id = idOf(row);
        this.inFlight.add(id);
        try {
          await work(row);
        } finally {
          this.inFlight.delete(id);
        }
      });
    }
  }

  private log(what: string, counts: RecoveryCounts): void {
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    if (total === 0) return;
    this.deps.logger.info(
      { nodeId: this.deps.nodeId, ...counts },
      `${what}: claimed deliveries finished: ${counts.redelivered + counts.recorded + counts.deadLettered} ` +
        `(handler re-run: ${counts.redelivered}, already taken by the engine: ${counts.recorded}, ` +
        `dead-lettered: ${counts.deadLettered}); invocations resumed: ${counts.invocations}; ` +
        `waiting instances released: ${counts.released}; ended instances settled: ${counts.ended}`,
    );
  }
}

function emptyCounts(): RecoveryCounts {
  return { redelivered: 0, recorded: 0, deadLettered: 0, invocations: 0, released: 0, ended: 0 };
}

function count(counts: RecoveryCounts, result: ClaimRecoveryResult): void {
  if (result === 'redelivered') counts.redelivered++;
  if (result === 'recorded') counts.recorded++;
  if (result === 'dead-lettered') counts.deadLettered++;
}

/** Runs `work` over `items`, at most CONCURRENCY at a time; failures of one do not stop others. */
async function runLimited<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++];
      await work(item).catch((error: unknown) => errors.push(error));
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}
