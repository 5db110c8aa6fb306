import { Brackets, In, type EntityManager } from 'typeorm';
import { ExpectationEntity } from '../store/entities/expectation.entity';
import { InvocationEntity } from '../store/entities/invocation.entity';
import type { PsiStore } from '../store/psi-store';
import type { ReceivedMessage } from './received-message';

/** Most rows one sweep takes over, so a node that comes back to a large backlog starts gently. */
const SWEEP_LIMIT = 100;

/**
 * What this node holds in the store, so that several nodes can share one database:
 *
 * - a **lease** on each invocation it runs (`psi_invocation.leaseOwner`, `leaseExpiresAt`),
 *   taken with a conditional update (free, lapsed, or already ours) and renewed while it works;
 * - a **claim** on each answer it is delivering (`psi_expectation.claimedBy`, `claimExpiresAt`,
 *   and the answer itself in `claimedMessage`), renewed the same way.
 *
 * A node that dies stops renewing; once the expiry passes, any other node takes the work over
 * with the same kind of conditional update. Only the rows this process really works on are
 * renewed (tracked here in memory), so work that failed half-way is not kept alive by a live node.
 */
export class NodeLeases {
  private readonly invocations = new Set<string>();
  private readonly deliveries = new Set<string>();

  constructor(
    private readonly store: PsiStore,
    readonly nodeId: string,
    readonly leaseMs: number,
    private readonly clock: () => number,
  ) {}

  /** Lease columns of an invocation this node creates (and runs). */
  newInvocationLease(): Pick<InvocationEntity, 'leaseOwner' | 'leaseExpiresAt'> {
    return { leaseOwner: this.nodeId, leaseExpiresAt: this.clock() + this.leaseMs };
  }

  /** This node created the invocation with its lease (see newInvocationLease) and runs it now. */
  adoptInvocation(invocationId: string): void {
    this.invocations.add(invocationId);
  }

  /**
   * Takes the lease of a running invocation when it is free, lapsed or already this node's;
   * false when another node holds a live lease (it runs the invocation; leave it alone).
   */
  async acquireInvocation(invocationId: string): Promise<boolean> {
    if (this.invocations.has(invocationId)) return true;
    const now = this.clock();
    const taken = await this.store.transaction((tx) =>
      tx
        .createQueryBuilder()
        .update(InvocationEntity)
        .set({ leaseOwner: this.nodeId, leaseExpiresAt: now + this.leaseMs })
        .where('id = :id AND status = :running', { id: invocationId, running: 'running' })
        .andWhere(this.takeable(RAW_LEASE, now))
        .execute(),
    );
    if ((taken.affected ?? 0) === 0) return false;
    this.invocations.add(invocationId);
    return true;
  }

  /** This node stopped working on the invocation (its lease lapses unless renewed elsewhere). */
  releaseInvocation(invocationId: string): void {
    this.invocations.delete(invocationId);
  }

  /** Claim columns for a conditional `open → claimed` update delivering `message`. */
  claimColumns(
    message: ReceivedMessage,
  ): Pick<ExpectationEntity, 'claimedBy' | 'claimExpiresAt' | 'claimedMessage'> {
    return {
      claimedBy: this.nodeId,
      claimExpiresAt: this.clock() + this.leaseMs,
      claimedMessage: JSON.stringify(message),
    };
  }

  /** Columns that clear a claim (the delivery finished or was undone). */
  static readonly unclaimed: Pick<
    ExpectationEntity,
    'claimedBy' | 'claimExpiresAt' | 'claimedMessage'
  > = { claimedBy: null, claimExpiresAt: null, claimedMessage: null };

  holdDelivery(expectationId: string): void {
    this.deliveries.add(expectationId);
  }

  releaseDelivery(expectationId: string): void {
    this.deliveries.delete(expectationId);
  }

  /** Extends every lease and claim this process is working on. */
  async renew(): Promise<void> {
    const invocations = [...this.invocations];
    const deliveries = [...this.deliveries];
    if (invocations.length === 0 && deliveries.length === 0) return;
    const expiresAt = this.clock() + this.leaseMs;
    await this.store.transaction(async (tx) => {
      if (invocations.length > 0) {
        await tx.update(
          InvocationEntity,
          { id: In(invocations), leaseOwner: this.nodeId, status: 'running' },
          { leaseExpiresAt: expiresAt },
        );
      }
      if (deliveries.length > 0) {
        await tx.update(
          ExpectationEntity,
          { id: In(deliveries), claimedBy: this.nodeId, status: 'claimed' },
          { claimExpiresAt: expiresAt },
        );
      }
    });
  }

  /** Running invocations nobody holds a live lease on (a dead node's, or this node's from before). */
  async takeableInvocations(): Promise<string[]> {
    const now = this.clock();
    const rows = await this.store.transaction((tx) =>
      tx
        .createQueryBuilder(InvocationEntity, 'i')
        .select('i.id', 'id')
        .where('i.status = :running', { running: 'running' })
        .andWhere(this.takeable(ALIASED_LEASE, now))
        .orderBy('i.createdAt', 'ASC')
        .limit(SWEEP_LIMIT)
        .getRawMany<{ id: string }>(),
    );
    return rows.map((r) => r.id).filter((id) => !this.invocations.has(id));
  }

  /** Expectations left `claimed` by a delivery whose claim lapsed (its node died). */
  async lapsedClaims(): Promise<ExpectationEntity[]> {
    const now = this.clock();
    return this.store.transaction((tx) =>
      tx
        .createQueryBuilder(ExpectationEntity, 'e')
        .where('e.status = :claimed', { claimed: 'claimed' })
        .andWhere('(e.claimExpiresAt IS NULL OR e.claimExpiresAt <= :now)', { now })
        .orderBy('e.claimExpiresAt', 'ASC')
        .limit(SWEEP_LIMIT)
        .getMany(),
    );
  }

  /**
   * Settles a lapsed claim with `changes` (conditional update: still `claimed`, still lapsed);
   * false when another node settled it first.
   */
  async settleLapsedClaim(
    tx: EntityManager,
    expectation: ExpectationEntity,
    changes: Partial<ExpectationEntity>,
  ): Promise<boolean> {
    const result = await tx
      .createQueryBuilder()
      .update(ExpectationEntity)
      .set({ ...changes, ...NodeLeases.unclaimed })
      .where('id = :id AND status = :claimed', { id: expectation.id, claimed: 'claimed' })
      .andWhere('("claimExpiresAt" IS NULL OR "claimExpiresAt" <= :now)', { now: this.clock() })
      .execute();
    return (result.affected ?? 0) > 0;
  }

  /** On a clean stop: lets any node take this node's running invocations at once. */
  async releaseAll(): Promise<void> {
    await this.store.transaction((tx) =>
      tx.update(
        InvocationEntity,
        { leaseOwner: this.nodeId, status: 'running' },
        { leaseExpiresAt: 0 },
      ),
    );
    this.invocations.clear();
  }

  /** Free, ours, or lapsed; `columns` as the query builder needs them spelled. */
  private takeable(columns: { owner: string; expiry: string }, now: number): Brackets {
    return new Brackets((where) =>
      where
        .where(`${columns.owner} IS NULL`)
        .orWhere(`${columns.owner} = :me`, { me: this.nodeId })
        .orWhere(`${columns.expiry} IS NULL`)
        .orWhere(`${columns.expiry} <= :leaseNow`, { leaseNow: now }),
    );
  }
}

// In an update builder columns are raw SQL; in a select builder TypeORM maps alias.property.
const RAW_LEASE = { owner: '"leaseOwner"', expiry: '"leaseExpiresAt"' };
const ALIASED_LEASE = { owner: 'i.leaseOwner', expiry: 'i.leaseExpiresAt' };
