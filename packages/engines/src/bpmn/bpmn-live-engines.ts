import { EventEmitter } from 'node:events';
import { EngineStateError } from '../errors';
import type { BpmnDeployment } from './bpmn-deployments';
import type {
  BpmnEngineConstructor,
  BpmnEngineInstance,
  BpmnEngineOptions,
  BpmnExecuteMessage,
  BpmnExecution,
  BpmnExtensionActivity,
  BpmnServiceCallback,
} from './bpmn-internals';
import { isServiceType } from './bpmn-wait-points';

/** A bpmn-engine Engine running one instance. */
export interface LiveInstance {
  readonly instanceId: string;
  readonly engine: BpmnEngineInstance;
  readonly listener: EventEmitter;
  /** Callbacks of waiting service steps, by bpmn-engine execution id. */
  readonly services: Map<string, BpmnServiceCallback>;
  execution?: BpmnExecution;
  /** Set by the engine's `end` / `error` events (or a failed start). */
  outcome?: { status: 'completed' } | { status: 'failed'; error: unknown };
  /** The record revision this Engine's state was last saved as; a stale Engine is not reused. */
  revision: number;
  /** When an operation last used it (ms, `Date.now`), for the idle sweep. */
  usedAt: number;
  /** How often operations used it: an eviction chosen before a later use does not happen. */
  uses: number;
  /** Something runs by itself (a script, a service PSI does not serve): never evicted. */
  busy: boolean;
  /** Activities completed since the record was last saved (their ids, in order). */
  completed: string[];
  /**
   * An operation (start, signal, a timer's wake-up) holds the Engine and reads it into the
   * record when it is done: what the Engine does meanwhile needs no sync of its own.
   */
  operating: boolean;
  /**
   * The clock's offset from the real time when bpmn-elements last armed a timer (it computes the
   * due time from the real time then): the due time on the plugin's clock is exactly its own.
   */
  timerClockOffset?: number;
}

/** How many Engines stay live between signals. */
export interface LiveEngineLimits {
  /** Most Engines kept while their instances wait (least recently used dropped first). */
  max: number;
  /** An Engine unused this long is dropped (its instance is recovered on its next signal). */
  idleMs: number;
}

export interface LiveEngineParts {
  Engine: BpmnEngineConstructor;
  /** The Engine options of an instance of `deployment` (name, services, timers, extensions...). */
  options(instanceId: string, deployment: BpmnDeployment): BpmnEngineOptions;
  /** Whether PSI serves activity `activityId` of `deployment` as a service step. */
  servesStep(deployment: BpmnDeployment, activityId: string): boolean;
  /** The engine moved by itself (a timer, a service of its own): persist where it went. */
  onActivity(live: LiveInstance): void;
  /**
   * Runs `drop` under the instance's lock (the plugin serialises per instance): it drops the kept
   * Engine unless it was used since it was chosen.
   */
  evict(instanceId: string, drop: () => Promise<void>): void;
  limits: LiveEngineLimits;
  /** How far the real time is ahead of the plugin's clock (see `shiftTimers`). */
  clockOffset: () => number;
}

const ACTIVITY_EVENTS = ['activity.wait', 'activity.end', 'activity.timer', 'activity.leave'];

/**
 * The clock's offset from the real time as it was when bpmn-elements armed the timer of
 * `content` (an `activity.timer` event): its due time less its delay is the real time it read
 * then, and on the plugin's clock no time passed since (the event follows in the same operation).
 * Without those, or on the default clock, the offset now.
 */
function armedClockOffset(content: Record<string, unknown> | undefined, offsetNow: number): number {
  const expireAt = new Date(content?.expireAt as string).getTime();
  const timeout = content?.timeout;
  if (offsetNow === 0 || !Number.isFinite(expireAt) || typeof timeout !== 'number')
    return offsetNow;
  const clockNow = Date.now() - offsetNow;
  return expireAt - timeout - clockNow;
}

/**
 * How long a drop waits for bpmn-engine's `stop` event. An execution that broke inside
 * bpmn-engine may never emit it; the Engine is let go then (its listeners are already removed).
 */
const STOP_PATIENCE_MS = 1_000;

async function stopWithin(engine: BpmnEngineInstance, patienceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, patienceMs);
    timer.unref();
  });
  try {
    await Promise.race([engine.stop(), gaveUp]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The live bpmn-engine Engines: one is built when an instance starts (from the deployment's
 * parsed context, no XML parsing) and kept while the instance moves, so a service step's
 * signal and the answer after it need no new Engine. An Engine is rebuilt from the saved state
 * only after a restart, an eviction (`limits`), or when another node moved the instance
 * (the record's revision differs).
 */
export class LiveEngines {
  private readonly live = new Map<string, LiveInstance>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly parts: LiveEngineParts) {}

  get size(): number {
    return this.live.size;
  }

  /** The instance's Engine when it is live and saved as `revision`. */
  current(instanceId: string, revision: number): LiveInstance | undefined {
    const live = this.live.get(instanceId);
    if (!live || live.revision !== revision) return undefined;
    live.usedAt = Date.now();
    live.uses++;
    // Most recently used last: the map's order is the eviction order.
    this.live.delete(instanceId);
    this.live.set(instanceId, live);
    return live;
  }

  /** Builds an Engine for a new instance and runs it to its first wait (or its end). */
  async start(
    instanceId: string,
    deployment: BpmnDeployment,
    variables: Record<string, unknown>,
  ): Promise<LiveInstance> {
    const live = this.create(instanceId, deployment, (engine) => engine);
    try {
      live.execution = (await live.engine.execute({
        listener: live.listener,
        variables,
      })) as BpmnExecution;
    } catch (error) {
      live.outcome ??= { status: 'failed', error };
    }
    return live;
  }

  /** Rebuilds the instance's Engine from its saved state. @throws EngineStateError */
  async recover(
    instanceId: string,
    deployment: BpmnDeployment,
    state: unknown,
    revision: number,
  ): Promise<LiveInstance> {
    await this.drop(instanceId);
    const live = this.create(instanceId, deployment, (engine) => engine.recover(state));
    live.revision = revision;
    try {
      live.execution = (await live.engine.resume({ listener: live.listener })) as BpmnExecution;
    } catch (error) {
      await this.drop(instanceId);
      throw new EngineStateError(instanceId, 'bpmn-engine could not resume it', { cause: error });
    }
    return live;
  }

  /**
   * After a change was saved as `revision`: keeps the Engine for the next signal, or drops it
   * when the instance ended or when `keep` is false (its BPMN timers are left to PSI's wake-up).
   */
  async settled(live: LiveInstance, revision: number, keep: boolean): Promise<void> {
    live.revision = revision;
    live.usedAt = Date.now();
    live.uses++;
    if (live.outcome || ((!keep || this.parts.limits.max <= 0) && !live.busy)) {
      await this.drop(live.instanceId);
      return;
    }
    this.evictOverflow();
    this.armSweeper();
  }

  /** Stops and forgets the instance's Engine (no-op when it has none). */
  async drop(instanceId: string): Promise<void> {
    const live = this.live.get(instanceId);
    if (!live) return;
    this.live.delete(instanceId);
    if (this.live.size === 0) this.disarmSweeper();
    live.listener.removeAllListeners();
    live.engine.removeAllListeners();
    live.engine.on('error', () => undefined);
    if (live.outcome?.status === 'failed') {
      // A failed Engine may never emit `stop` (bpmn-engine waits for it): clear its timers only.
      const timers = live.engine.environment.timers as
        { executing?: unknown[]; clearTimeout?: (ref: unknown) => void } | undefined;
      for (const ref of [...(timers?.executing ?? [])]) timers?.clearTimeout?.(ref);
      return;
    }
    if (live.engine.state !== 'running') return;
    await stopWithin(live.engine, STOP_PATIENCE_MS);
  }

  /** Stops every Engine. */
  async dropAll(): Promise<void> {
    this.disarmSweeper();
    for (const id of [...this.live.keys()]) await this.drop(id);
  }

  private create(
    instanceId: string,
    deployment: BpmnDeployment,
    prepare: (engine: BpmnEngineInstance) => BpmnEngineInstance,
  ): LiveInstance {
    const holder: { live?: LiveInstance } = {};
    const options = this.parts.options(instanceId, deployment);
    const engine = prepare(
      new this.parts.Engine({
        ...options,
        sourceContext: deployment.context,
        extensions: {
          ...options.extensions,
          psi: this.serviceExtension(deployment, () => holder.live!),
        },
      }),
    );
    const live: LiveInstance = (holder.live = {
      instanceId,
      engine,
      listener: new EventEmitter(),
      services: new Map(),
      revision: 0,
      usedAt: Date.now(),
      uses: 0,
      busy: false,
      completed: [],
      operating: true,
    });
    const moved = () => this.parts.onActivity(live);
    live.listener.on('activity.timer', (api?: { content?: Record<string, unknown> }) => {
      live.timerClockOffset = armedClockOffset(api?.content, this.parts.clockOffset());
    });
    for (const event of ACTIVITY_EVENTS) live.listener.on(event, moved);
    live.listener.on('activity.end', (api: { id?: string } | undefined) => {
      if (api?.id) live.completed.push(api.id);
    });
    engine.on('end', () => {
      live.outcome ??= { status: 'completed' };
      moved();
    });
    engine.on('error', (error: unknown) => {
      live.outcome ??= { status: 'failed', error };
      moved();
    });
    this.live.set(instanceId, live);
    return live;
  }

  /** Gives every service step PSI serves an implementation that waits for PSI's signal. */
  private serviceExtension(
    deployment: BpmnDeployment,
    live: () => LiveInstance,
  ): (activity: BpmnExtensionActivity) => void {
    return (activity) => {
      if (!isServiceType(activity.type) || !this.parts.servesStep(deployment, activity.id)) return;
      activity.behaviour.Service = function PsiServiceStep() {
        return {
          execute(message: BpmnExecuteMessage, callback: BpmnServiceCallback) {
            live().services.set(message.content.executionId, callback);
          },
          discard(message: BpmnExecuteMessage) {
            live().services.delete(message?.content?.executionId);
          },
          stop() {
            // The callback stays: a recovered Engine re-executes the task and registers it again.
          },
        };
      };
    };
  }

  private evictOverflow(): void {
    let over = this.live.size - this.parts.limits.max;
    for (const live of this.live.values()) {
      if (over <= 0) return;
      if (live.busy) continue;
      over--;
      this.evict(live);
    }
  }

  private evict(live: LiveInstance): void {
    const uses = live.uses;
    this.parts.evict(live.instanceId, async () => {
      if (this.live.get(live.instanceId) === live && live.uses === uses && !live.busy) {
        await this.drop(live.instanceId);
      }
    });
  }

  private armSweeper(): void {
    if (this.sweeper || this.parts.limits.idleMs <= 0) return;
    const idleMs = this.parts.limits.idleMs;
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const live of this.live.values()) {
        if (!live.busy && now - live.usedAt >= idleMs) this.evict(live);
      }
    }, idleMs);
    this.sweeper.unref();
  }

  private disarmSweeper(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
