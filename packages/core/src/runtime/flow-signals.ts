import { PsiError, PsiErrorCode } from '../errors';
import type { ProcessEngine } from '../spi/process-engine';
import type { ReadinessNotifier } from '../store/readiness-notifier';
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
}

/** The flow that `dueAt` wakes (the deadline scheduler). */
export interface DeadlineWaker {
  notify(at: number): void;
}

/**
 * The node's {@link FlowSignals}: built before the flows, given the deadline flow once it exists
 * (it needs the flows that signal it), announcing only while the node runs.
 */
export class NodeSignals implements FlowSignals {
  private deadlines: DeadlineWaker | undefined;
  private running = false;

  constructor(
    private readonly node: {
      engine: ProcessEngine;
      readiness: ReadinessNotifier;
      /** Tells this node's readiness notices from the others'. */
      origin: string;
      tasks: TaskTracker;
    },
  ) {}

  /** The deadline flow that `dueAt` wakes. */
  wake(deadlines: DeadlineWaker): void {
    this.deadlines = deadlines;
  }

  /** Announcing starts with the node (`start()`) and ends when it closes. */
  setRunning(running: boolean): void {
    this.running = running;
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

  async waitStatesHere(instanceId: string): Promise<readonly string[] | undefined> {
    try {
      return await this.node.engine.getWaitStates(instanceId);
    } catch (error) {
      if (PsiError.is(error) && error.code === PsiErrorCode.InstanceNotFound) return undefined;
      throw error;
    }
  }
}
