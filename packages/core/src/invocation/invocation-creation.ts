import type { EntityManager } from 'typeorm';
import type { AdapterModel } from '../adapter/adapter-model';
import type { Audit, AuditLog } from '../records/audit-log';
import { createInvocation, invocationOfEntry, type Invocation } from '../records/invocations';
import type { NodeLeases } from '../cluster/node-leases';
import type { ServiceStepEnteredEvent } from '../spi/process-engine';
import type { EngineStateCarry } from '../store/engine-state-carry';
import { timeOrderedId } from '../store/time-ordered-id';

/**
 * Another node, or this node's earlier process, recorded an invocation for the step's entry
 * first: the run that was about to create one stands down, and that row decides.
 */
export class InvocationExists extends Error {
  constructor(readonly activation: Pick<Invocation, 'instanceId' | 'activationId'>) {
    super(`the invocation of ${activation.instanceId}/${activation.activationId} exists`);
  }
}

/** Returned by a creating unit whose insert found the activation taken: nothing was written. */
const TAKEN = Symbol('taken');

/**
 * How an invocation's row comes to exist. A step entered live is run at once, its row held in
 * memory under this node's lease, and inserted by the run's first unit of work (with the first
 * request and its expectations, or the outcome): one commit fewer than creating it first, and
 * nothing the adapter did before its first call leaves the process (requests go out only once
 * committed). The unique activation still decides between two runs: the one whose insert finds
 * the row stands down before it writes anything. A re-raised entry (`resumed`, after a restore)
 * most likely has its row already: it is created or read first, as before.
 */
export class InvocationCreation {
  /** Invocations this process runs whose row is not inserted yet. */
  private readonly uncreated = new Set<string>();

  constructor(
    private readonly deps: { audit: AuditLog; leases: NodeLeases; clock: () => number },
  ) {}

  /** A new invocation of the step's entry, not stored yet (see {@link unitOf}). */
  deferred(event: Omit<ServiceStepEnteredEvent, 'type'>, model: AdapterModel): Invocation {
    const invocation = this.describe(event, model);
    this.uncreated.add(invocation.id);
    return invocation;
  }

  /** The run ended: a row it never inserted is forgotten. */
  settled(invocationId: string): void {
    this.uncreated.delete(invocationId);
  }

  /**
   * The invocation of the step's entry, created in a unit of its own or read when another run
   * created it first; `created` tells which.
   */
  async createOrRead(
    event: Omit<ServiceStepEnteredEvent, 'type'>,
    model: AdapterModel,
  ): Promise<{ invocation: Invocation; created: boolean }> {
    const { audit, leases } = this.deps;
    const activation = { instanceId: event.instanceId, activationId: event.activationId };
    const fresh = this.describe(event, model);
    // Held before it commits: a take-over sweep never sees it as nobody's.
    leases.adoptInvocation(fresh.id);
    let created = false;
    try {
      return await audit.transaction(async (tx, write) => {
        // One statement in the common case; the unique activation decides between two runs.
        created = await this.insert(tx, write, fresh);
        if (created) return { invocation: fresh, created };
        const existing = await invocationOfEntry(tx, activation);
        if (existing) return { invocation: existing, created };
        throw new Error(`invocation of ${event.instanceId}/${event.activationId} vanished`);
      });
    } catch (error) {
      created = false;
      // Another node created it meanwhile (unique activation): its lease decides who runs it.
      const existing = await audit.transaction((tx) => invocationOfEntry(tx, activation));
      if (!existing) throw error;
      return { invocation: existing, created };
    } finally {
      if (!created) leases.releaseInvocation(fresh.id);
    }
  }

  /**
   * Runs a unit of work of the invocation's run. The first unit of a deferred invocation also
   * inserts its row and its `invoked` entry; when the activation turns out to be taken, nothing
   * of the unit is written and it throws {@link InvocationExists}. Given the `carry` of the
   * step's signal (the outcome, see Invoker), the unit commits the engine's new state with the
   * record; a taken activation still writes that state: the engine took this run's outcome
   * (possible only for an adapter with no call and no handler), and the other run's signal,
   * under the same signal id, changes nothing.
   */
  async unitOf<T>(
    invocation: Invocation,
    work: (tx: EntityManager, write: Audit) => Promise<T>,
    carry?: EngineStateCarry,
  ): Promise<T> {
    const { audit } = this.deps;
    if (!this.uncreated.has(invocation.id)) return audit.transaction(work, carry);
    const result = await audit.transaction(async (tx, write) => {
      if (!(await this.insert(tx, write, invocation))) return TAKEN;
      return { value: await work(tx, write) };
    }, carry);
    if (result === TAKEN) throw new InvocationExists(invocation);
    this.uncreated.delete(invocation.id);
    return result.value;
  }

  private describe(event: Omit<ServiceStepEnteredEvent, 'type'>, model: AdapterModel): Invocation {
    const now = this.deps.clock();
    return {
      id: timeOrderedId(),
      instanceId: event.instanceId,
      activationId: event.activationId,
      step: event.step,
      adapter: model.name,
      service: model.service,
      correlationKey: timeOrderedId(),
      status: 'running',
      lastError: null,
      createdAt: now,
      updatedAt: now,
      ...this.deps.leases.newInvocationLease(),
    };
  }

  /** Inserts the row (its lease counted from now) and the `invoked` entry; false when taken. */
  private async insert(tx: EntityManager, write: Audit, invocation: Invocation): Promise<boolean> {
    const row = { ...invocation, ...this.deps.leases.newInvocationLease() };
    if (!(await createInvocation(tx, row))) return false;
    await write({
      kind: 'invoked',
      instanceId: invocation.instanceId,
      invocationId: invocation.id,
      detail: { step: invocation.step, adapter: invocation.adapter, service: invocation.service },
    });
    return true;
  }
}
