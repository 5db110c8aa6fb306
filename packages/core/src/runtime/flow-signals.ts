import { CoordinatorClosedError, PsiError, PsiErrorCode } from '../errors';
import type { ProcessEngine } from '../spi/process-engine';
import type { ReadinessNotifier } from '../store/readiness-notifier';
import type { PsiClock } from './psi-clock';
import type { TaskTracker } from './task-tracker';

/**
 * What one flow tells the others, and what it asks of the node it runs on: the one interface the
 * flows share for it, instead of callbacks into the coordinator. Each call is a notice; none
 * waits for what it starts.
 */
export interface FlowSignals {
  /** Something becomes due at `at` (a deadline, a parking expiry): the deadline flow wakes by then. */
  dueAt(at: number): void;
  /**
   * `instanceId` has work this node's engine cannot take (a parked answer, a pending timeout):
   * the nodes whose engine has it are told, unless this node's engine knows the instance (then
   * this node releases it itself when the engine reports it ready).
   */
  announce(instanceId: string): void;
  /** The instance's wait states in this node's engine; undefined when the engine does not know it. */
  waitStatesHere(instanceId: string): Promise<readonly string[] | undefined>;
  /**
   * Answers parked before their expectations were recorded now belong to `instanceId`: the
   * correlation flow releases them if the instance is ready. (Answers parked later for it are
   * released by their own receive.)
   */
  adopted(instanceId: string): void;
  /**
   * Resolves after `ms` on the node's clock (a retry's backoff); rejects with
   * CoordinatorClosedError once the node closes, or at once when it has closed.
   */
  backoff(ms: number): Promise<void>;
}

/** The flow that `dueAt` wakes (the deadline scheduler). */
export interface DeadlineWaker {
  notify(at: number): void;
}

/** The flow that `adopted` starts a release in (the correlator). */
export interface Releaser {
  release(instanceId: string): Promise<void>;
}

/**
 * The node's {@link FlowSignals}: built before the flows, given the flows it wakes once they
 * exist (they need the signals themselves), announcing only while the node runs, and holding
 * the node's backoff timers so that closing the node ends them.
 */
export class NodeSignals implements FlowSignals {
  private deadlines: DeadlineWaker | undefined;
  private releases: Releaser | undefined;
  private running = false;
  private closed = false;
  private readonly backoffs = new Set<{ timer: unknown; reject: (error: unknown) => void }>();

  constructor(
    private readonly node: {
      engine: ProcessEngine;
      readiness: ReadinessNotifier;
      /** Tells this node's readiness notices from the others'. */
      origin: string;
      tasks: TaskTracker;
      timers: PsiClock;
    },
  ) {}

  /** The flows that `dueAt` and `adopted` wake. */
  wake(deadlines: DeadlineWaker, releases: Releaser): void {
    this.deadlines = deadlines;
    this.releases = releases;
  }

  /** Announcing starts with the node (`start()`) and ends when it closes. */
  setRunning(running: boolean): void {
    this.running = running;
  }

  /** The node closes: backoffs waiting now reject, later ones at once. */
  close(): void {
    this.running = false;
    this.closed = true;
    for (const pending of this.backoffs) {
      this.node.timers.clearTimeout(pending.timer);
      pending.reject(new CoordinatorClosedError());
    }
    this.backoffs.clear();
  }

  dueAt(at: number): void {
    this.deadlines?.notify(at);
  }

  announce(instanceId: string): void {
    if (!this.running) return;
    this.node.tasks.track(`readiness notice for ${instanceId}`, async () => {
      if ((await this.waitStatesHere(instanceId)) !== undefined) return;
      await this.node.readiness.publish(this.node.origin, instanceId);
    });
  }

  adopted(instanceId: string): void {
    const releases = this.releases;
    if (!releases) return;
    this.node.tasks.track('release after expectations', () => releases.release(instanceId));
  }

  backoff(ms: number): Promise<void> {
    // Work that reaches its wait after close() began (a take-over still starting) stops at once.
    if (this.closed) return Promise.reject(new CoordinatorClosedError());
    // A backoff waits on the clock, not on work: idle({ exceptBackoff: true }) does not wait for it.
    return this.node.tasks.sleep(
      new Promise<void>((resolve, reject) => {
        const pending = {
          timer: this.node.timers.setTimeout(() => {
            this.backoffs.delete(pending);
            resolve();
          }, ms),
          reject,
        };
        this.backoffs.add(pending);
      }),
    );
  }

  async waitStatesHere(instanceId: string): Promise<readonly string[] | undefined> {
    try {
      return await this.node.engine.getWaitStates(instanceId);
    } catch (error) {
      if (PsiError.is(error) && error.code === PsiErrorCode.InstanceNotFound) return undefined;
      throw error;
    }
  }
}
