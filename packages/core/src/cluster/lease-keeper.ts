import type { NodeLeases } from './node-leases';
import type { PsiClock } from '../runtime/psi-clock';
import type { Recovery } from './recovery';
import type { TaskTracker } from '../runtime/task-tracker';

/**
 * The heartbeat of a node sharing its store: every third of the lease it renews what this
 * process works on; every `sweepMs` it takes over what stopped nodes left (see Recovery). Every
 * take-over is a conditional update, so several nodes sweeping at once never take the same
 * work twice.
 */
export class LeaseKeeper {
  private renewTimer: unknown;
  private sweepTimer: unknown;
  private renewing = false;
  private sweeping = false;

  constructor(
    private readonly deps: {
      leases: NodeLeases;
      recovery: Recovery;
      tasks: TaskTracker;
      /** How often to look for stopped nodes' work (seconds where liveness is known). */
      sweepMs: number;
      timers: PsiClock;
    },
  ) {}

  start(): void {
    if (this.renewTimer) return;
    const renewEvery = Math.max(10, Math.floor(this.deps.leases.leaseMs / 3));
    const { timers } = this.deps;
    // Intervals as re-armed timeouts: a PsiClock has only setTimeout.
    const renewTick = (): void => {
      this.renewTimer = timers.setTimeout(renewTick, renewEvery);
      this.renew();
    };
    const sweepTick = (): void => {
      this.sweepTimer = timers.setTimeout(sweepTick, Math.max(10, this.deps.sweepMs));
      this.sweep();
    };
    this.renewTimer = timers.setTimeout(renewTick, renewEvery);
    this.sweepTimer = timers.setTimeout(sweepTick, Math.max(10, this.deps.sweepMs));
  }

  stop(): void {
    if (this.renewTimer) this.deps.timers.clearTimeout(this.renewTimer);
    if (this.sweepTimer) this.deps.timers.clearTimeout(this.sweepTimer);
    this.renewTimer = undefined;
    this.sweepTimer = undefined;
  }

  private renew(): void {
    if (this.renewing || !this.renewTimer) return;
    this.renewing = true;
    this.deps.tasks.track('lease renewal', async () => {
      try {
        await this.deps.leases.renew();
      } finally {
        this.renewing = false;
      }
    });
  }

  /** One round of take-overs (skipped while the previous one runs). */
  sweep(): void {
    if (this.sweeping || !this.sweepTimer) return;
    this.sweeping = true;
    this.deps.tasks.track('take-over sweep', async () => {
      try {
        await this.deps.recovery.sweep();
      } finally {
        this.sweeping = false;
      }
    });
  }
}
