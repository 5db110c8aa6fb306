import {
  claimOwners,
  lapsedClaims,
  renewClaims,
  takeOverClaim,
  type ClaimColumns,
  type Expectation,
} from '../records/expectations';
import {
  invocationLeaseOwners,
  releaseInvocationLeases,
  renewInvocationLeases,
  takeableInvocations,
  takeInvocationLease,
  type InvocationLease,
  type LeaseTaker,
} from '../records/invocations';
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
 * This class decides what to take and renew, and when; the records (`records/invocations.ts`,
 * `records/expectations.ts`) write the columns.
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
  newInvocationLease(): InvocationLease {
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
    const taker = this.taker();
    const taken = await this.store.transaction((tx) =>
      takeInvocationLease(tx, invocationId, taker, taker.now + this.leaseMs),
    );
    if (!taken) return false;
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
      await renewInvocationLeases(tx, invocations, this.nodeId, expiresAt);
      await renewClaims(tx, deliveries, this.nodeId, expiresAt);
    });
  }

  /** The nodes that hold claims or leases now (this one included): whose liveness to check. */
  async owners(): Promise<string[]> {
    const owners = await this.store.read(async (tx) => [
      ...(await claimOwners(tx)),
      ...(await invocationLeaseOwners(tx)),
    ]);
    return [...new Set(owners.filter((o): o is string => o !== null))];
  }

  /**
   * One page of running invocations this node may take over (dead owners', lapsed, free, its
   * own), after `afterId`, skipping those this process runs.
   */
  async takeableInvocations(afterId = ''): Promise<string[]> {
    const taker = this.taker();
    const ids = await this.store.read((tx) => takeableInvocations(tx, taker, afterId, PAGE));
    return ids.filter((id) => !this.invocations.has(id));
  }

  /**
   * One page of claims whose delivery this node may finish, after `afterId`: those of dead
   * owners, those whose claim lapsed, and with `own` this node's (its earlier process stopped
   * under the same id); skipping those this process delivers.
   */
  async takeableClaims(own: boolean, afterId = ''): Promise<Expectation[]> {
    const owners = own ? [...this.dead, this.nodeId] : this.dead;
    const now = this.clock();
    const rows = await this.store.read((tx) => lapsedClaims(tx, owners, now, afterId, PAGE));
    return rows.filter((row) => !this.deliveries.has(row.id));
  }

  /**
   * Takes a claim over as it was read (same owner, same expiry: its owner did not renew it
   * meanwhile) and holds it; resolves with the delivery's id (a new one for claims written
   * before deliveries had ids), or undefined when another node moved first.
   */
  async takeOverClaim(expectation: Expectation): Promise<string | undefined> {
    const deliveryId = expectation.deliveryId ?? timeOrderedId();
    this.holdDelivery(expectation.id);
    const taken = await this.store.transaction((tx) =>
      takeOverClaim(tx, expectation, {
        claimedBy: this.nodeId,
        claimExpiresAt: this.clock() + this.leaseMs,
        deliveryId,
      }),
    );
    if (taken) return deliveryId;
    this.releaseDelivery(expectation.id);
    return undefined;
  }

  /** On a clean stop: lets any node take this node's running invocations at once. */
  async releaseAll(): Promise<void> {
    await this.store.transaction((tx) => releaseInvocationLeases(tx, this.nodeId));
    this.invocations.clear();
  }

  /** This node as it takes leases now: free, its own, lapsed, or of an owner found dead. */
  private taker(): LeaseTaker {
    return { nodeId: this.nodeId, now: this.clock(), deadOwners: this.dead };
  }
}
