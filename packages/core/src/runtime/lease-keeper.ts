import type { ClaimRecovery } from './claim-recovery';
import type { Invoker } from './invoker';
import type { NodeLeases } from './node-leases';
import type { TaskTracker } from './task-tracker';

/**
 * The heartbeat of a node sharing its store: every third of the lease it renews what this
 * process works on, takes over running invocations whose lease lapsed (their node died) and
 * settles deliveries a dead node left `claimed`. Every take-over is a conditional update, so
 * several nodes sweeping at once never take the same work twice.
 */
export class LeaseKeeper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(
    private readonly deps: {
      leases: NodeLeases;
      invoker: Invoker;
      recovery: ClaimRecovery;
      tasks: TaskTracker;
    },
  ) {}

  start(): void {
    if (this.timer) return;
    const every = Math.max(10, Math.floor(this.deps.leases.leaseMs / 3));
    this.timer = setInterval(() => this.sweep(), every);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round: renew, then take over lapsed work. */
  sweep(): void {
    if (this.sweeping || !this.timer) return;
    this.sweeping = true;
    this.deps.tasks.track('lease sweep', async () => {
      try {
        await this.deps.leases.renew();
        await this.takeOverInvocations();
        await this.settleLapsedClaims();
      } finally {
        this.sweeping = false;
      }
    });
  }

  /** Runs the running invocations nobody holds a live lease on (each run takes the lease first). */
  async takeOverInvocations(): Promise<void> {
    const { leases, invoker, tasks } = this.deps;
    for (const invocationId of await leases.takeableInvocations()) {
      tasks.track(`take-over of invocation ${invocationId}`, () => invoker.run(invocationId));
    }
  }

  /** Settles deliveries whose claim lapsed (see ClaimRecovery). */
  async settleLapsedClaims(): Promise<void> {
    const { leases, recovery, tasks } = this.deps;
    for (const expectation of await leases.lapsedClaims()) {
      tasks.track(`recovery of claimed expectation ${expectation.id}`, () =>
        recovery.settle(expectation),
      );
    }
  }
}
