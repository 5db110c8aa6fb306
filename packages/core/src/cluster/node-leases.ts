import { Brackets, In } from 'typeorm';
import { ExpectationEntity } from '../store/entities/expectation.entity';
import type { ClaimColumns } from '../records/expectations';
import { InvocationEntity } from '../store/entities/invocation.entity';
import type { PsiStore } from '../store/psi-store';
import type { ReceivedMessage } from '../correlation/received-message';
import { timeOrderedId } from '../store/time-ordered-id';

/** Rows read per page while taking work over: pages follow one another until none is left. */
const PAGE = 500;

/**
 * What this node holds in the store, so that several nodes can share one database:
 *
 * - a **lease** on each invocation it runs (`psi_invocation.leaseOwner`, `leaseExpiresAt`),
 *   taken with a conditional update (free, lapsed, already ours, or its owner dead) and renewed
 *   while it works;
 * - a **claim** on each answer it is delivering (`psi_expectation.claimedBy`, `claimExpiresAt`,
 *   the answer in `claimedMessage` and the delivery's `deliveryId`), renewed the same way.
 *
 * A node that dies stops renewing. Its work is taken over by a conditional update as soon as its
 * death is known (its liveness mark is gone, see NodeLiveness; or it is this node's own earlier
 * process, at start) or once the expiry passes. Only the rows this process really works on are
 * renewed (tracked here in memory), so work that failed half-way is not kept alive by a live node.
 */
export class NodeLeases {
  private readonly invocations = new Set<string>();
  private readonly deliveries = new Set<string>();
  // Owners last found dead (their liveness mark gone): their leases are takeable at once.
  private dead: readonly string[] = [];

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

  /** The owners found dead by the last liveness check (see NodeLiveness). */
  markDead(owners: readonly string[]): void {
    this.dead = owners.filter((owner) => owner !== this.nodeId);
  }

  /**
   * Takes the lease of a running invocation when it is free, lapsed, already this node's, or
   * its owner was found dead; false when another live node holds it (leave it alone).
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
        .andWhere(this.takeableLease(RAW_LEASE, now, this.dead))
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
  claimColumns(message: ReceivedMessage): ClaimColumns {
    return {
      claimedBy: this.nodeId,
      claimExpiresAt: this.clock() + this.leaseMs,
      claimedMessage: JSON.stringify(message),
    };
  }

  /** This process works on the delivery: its claim is renewed, and never taken over here. */
  holdDelivery(expectationId: string): void {
    this.deliveries.add(expectationId);
  }

  releaseDelivery(expectationId: string): void {
    this.deliveries.delete(expectationId);
  }

  /** Whether this process works on the delivery now. */
  holdsDelivery(expectationId: string): boolean {
    return this.deliveries.has(expectationId);
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

  /** The nodes that hold claims or leases now (this one included): whose liveness to check. */
  async owners(): Promise<string[]> {
    const rows = await this.store.read(async (tx) => {
      // The literal 'claimed' / 'running' lets PostgreSQL use the partial and status indexes.
      const claims = await tx
        .createQueryBuilder(ExpectationEntity, 'e')
        .select('DISTINCT e.claimedBy', 'owner')
        .where(`e.status = 'claimed'`)
        .getRawMany<{ owner: string | null }>();
      const leases = await tx
        .createQueryBuilder(InvocationEntity, 'i')
        .select('DISTINCT i.leaseOwner', 'owner')
        .where(`i.status = 'running'`)
        .getRawMany<{ owner: string | null }>();
      return [...claims, ...leases];
    });
    return [...new Set(rows.map((r) => r.owner).filter((o): o is string => o !== null))];
  }

  /**
   * One page of running invocations this node may take over (dead owners', lapsed, free, its
   * own), after `afterId`, skipping those this process runs.
   */
  async takeableInvocations(afterId = ''): Promise<string[]> {
    const now = this.clock();
    const rows = await this.store.read((tx) =>
      tx
        .createQueryBuilder(InvocationEntity, 'i')
        .select('i.id', 'id')
        .where(`i.status = 'running'`)
        .andWhere('i.id > :afterId', { afterId })
        .andWhere(this.takeableLease(ALIASED_LEASE, now, this.dead))
        .orderBy('i.id', 'ASC')
        .limit(PAGE)
        .getRawMany<{ id: string }>(),
    );
    return rows.map((r) => r.id).filter((id) => !this.invocations.has(id));
  }

  /**
   * One page of claims whose delivery this node may finish, after `afterId`: those of dead
   * owners, those whose claim lapsed, and with `own` this node's (its earlier process stopped
   * under the same id); skipping those this process delivers.
   */
  async takeableClaims(own: boolean, afterId = ''): Promise<ExpectationEntity[]> {
    const owners = own ? [...this.dead, this.nodeId] : this.dead;
    const now = this.clock();
    const rows = await this.store.read((tx) => {
      const query = tx
        .createQueryBuilder(ExpectationEntity, 'e')
        .where(`e.status = 'claimed'`)
        .andWhere('e.id > :afterId', { afterId });
      query.andWhere(
        new Brackets((where) => {
          where
            .where('e.claimExpiresAt IS NULL')
            .orWhere('e.claimExpiresAt <= :now', { now })
            .orWhere('e.claimedBy IS NULL');
          if (owners.length > 0) where.orWhere('e.claimedBy IN (:...owners)', { owners });
        }),
      );
      return query.orderBy('e.id', 'ASC').limit(PAGE).getMany();
    });
    return rows.filter((row) => !this.deliveries.has(row.id));
  }

  /**
   * Takes a claim over as it was read (same owner, same expiry: its owner did not renew it
   * meanwhile) and holds it; resolves with the delivery's id (a new one for claims written
   * before deliveries had ids), or undefined when another node moved first.
   */
  async takeOverClaim(expectation: ExpectationEntity): Promise<string | undefined> {
    const deliveryId = expectation.deliveryId ?? timeOrderedId();
    this.holdDelivery(expectation.id);
    const taken = await this.store.transaction((tx) => {
      const query = tx
        .createQueryBuilder()
        .update(ExpectationEntity)
        .set({ claimedBy: this.nodeId, claimExpiresAt: this.clock() + this.leaseMs, deliveryId })
        .where(`id = :id AND status = 'claimed'`, { id: expectation.id });
      sameAs(query, '"claimedBy"', 'owner', expectation.claimedBy);
      sameAs(query, '"claimExpiresAt"', 'expiry', expectation.claimExpiresAt);
      sameAs(query, '"deliveryId"', 'delivery', expectation.deliveryId);
      return query.execute();
    });
    if ((taken.affected ?? 0) > 0) return deliveryId;
    this.releaseDelivery(expectation.id);
    return undefined;
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

  /** Free, ours, lapsed, or its owner dead; `columns` as the query builder needs them spelled. */
  private takeableLease(
    columns: { owner: string; expiry: string },
    now: number,
    deadOwners: readonly string[],
  ): Brackets {
    return new Brackets((where) => {
      where
        .where(`${columns.owner} IS NULL`)
        .orWhere(`${columns.owner} = :me`, { me: this.nodeId })
        .orWhere(`${columns.expiry} IS NULL`)
        .orWhere(`${columns.expiry} <= :leaseNow`, { leaseNow: now });
      if (deadOwners.length > 0)
        where.orWhere(`${columns.owner} IN (:...deadOwners)`, { deadOwners });
    });
  }
}

/** Adds `column IS NOT DISTINCT FROM value` (spelled for both databases) to an update. */
function sameAs(
  query: { andWhere(sql: string, parameters?: Record<string, unknown>): unknown },
  column: string,
  name: string,
  value: string | number | null,
): void {
  if (value === null) query.andWhere(`${column} IS NULL`);
  else query.andWhere(`${column} = :${name}`, { [name]: value });
}

// In an update builder columns are raw SQL; in a select builder TypeORM maps alias.property.
const RAW_LEASE = { owner: '"leaseOwner"', expiry: '"leaseExpiresAt"' };
const ALIASED_LEASE = { owner: 'i.leaseOwner', expiry: 'i.leaseExpiresAt' };
