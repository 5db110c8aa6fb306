import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  EngineSignalRejectedError,
  InMemoryEngineStateRepository,
  KeyedMutex,
  type EngineEvent,
  type EngineEventListener,
  type EngineStateRepository,
  type ProcessEngine,
  type SignalOptions,
  type Variables,
} from '@psi/core';
import { globalEngineTimers, type EngineTimers } from '../engine-timers';
import {
  EngineStateError,
  InstanceExistsError,
  ProcessDefinitionError,
  ProcessDefinitionUnknownError,
  TransitionUnknownError,
} from '../errors';
import type { InstanceSnapshot } from '../instance-snapshot';
import { InstanceTimers } from '../instance-timers';
import { toJsonVariables } from '../json-variables';
import { EngineEventHub } from '../shared/engine-event-hub';
import { PluginLifecycle } from '../shared/plugin-lifecycle';
import { recordApplied, wasApplied } from '../shared/signal-ids';
import { storedRecordSnapshot } from '../shared/stored-instance-record';
import type {
  BpmnDefinition,
  BpmnEngineInstance,
  BpmnEngineOptions,
  BpmnEnvironment,
  BpmnExecuteMessage,
  BpmnExecution,
  BpmnExtensionActivity,
  BpmnPostponedApi,
  BpmnServiceCallback,
} from './bpmn-internals';
import { loadBpmnEngine } from './bpmn-internals';
import { earliestTimerDue } from './bpmn-timers';

const Engine = loadBpmnEngine();
import {
  parseBpmnInstanceRecord,
  type BpmnInstanceRecord,
  type BpmnWaitPoint,
} from './bpmn-instance-record';

/** The variable a signal's `transition` is written to before the instance moves on. */
export const PSI_TRANSITION_VARIABLE = 'psiTransition';

/**
 * Keys bpmn-elements writes into a process's variables by itself (the run message); they are
 * not process variables and are left out of `getVariables`, as is {@link PSI_TRANSITION_VARIABLE}.
 */
const RESERVED_VARIABLES: ReadonlySet<string> = new Set([
  'fields',
  'content',
  'properties',
  PSI_TRANSITION_VARIABLE,
]);

/** Activity types PSI serves with an adapter: they wait until PSI signals them. */
const SERVICE_TYPES: ReadonlySet<string> = new Set([
  'bpmn:ServiceTask',
  'bpmn:SendTask',
  'bpmn:BusinessRuleTask',
]);

const EVENT_BASED_GATEWAY = 'bpmn:EventBasedGateway';

/** Activity types that wait for a signal from outside (wait states). */
const WAIT_TYPES: ReadonlySet<string> = new Set([
  'bpmn:ReceiveTask',
  'bpmn:UserTask',
  'bpmn:ManualTask',
  'bpmn:IntermediateCatchEvent',
  EVENT_BASED_GATEWAY,
]);

const TIMER_EVENT_DEFINITION = 'bpmn:TimerEventDefinition';

/** Event definitions an intermediate catch event can be signalled at (timers fire by themselves). */
const SIGNALLABLE_EVENT_DEFINITIONS: ReadonlySet<string> = new Set([
  'bpmn:MessageEventDefinition',
  'bpmn:SignalEventDefinition',
  'bpmn:ConditionalEventDefinition',
  'bpmn:IntermediateCatchEvent',
]);

/** A BPMN 2.0 XML document to deploy, optionally under an id of your choosing. */
export interface BpmnProcessSource {
  /** The id `start` is called with. @default the id of the document's executable process */
  id?: string;
  /** The BPMN 2.0 XML. */
  source: string;
}

/** How to build a {@link BpmnEnginePlugin}. */
export interface BpmnEnginePluginOptions {
  /** BPMN documents deployed at construction (await `ready()` or just call `start`). */
  definitions?: ReadonlyArray<string | BpmnProcessSource>;
  /**
   * Where instance state is kept, as JSON under engine name `bpmn-engine`. Give PSI's store
   * (`store.engineStates()`) to survive restarts. @default a new InMemoryEngineStateRepository
   */
  stateRepository?: EngineStateRepository;
  /**
   * Timers for BPMN timer events, handed to bpmn-engine as they are: a bpmn-elements `Timers`
   * instance, e.g. `new Timers({ setTimeout, clearTimeout })` with test-controlled functions.
   * They run only while an instance has a live Engine (a signal, a wake-up).
   * @default bpmn-engine's own (the global setTimeout)
   */
  timers?: object;
  /**
   * Timer functions that wake a waiting instance when its earliest BPMN timer falls due (it then
   * gets a live Engine again, which fires the expired timer at once). Due times are wall-clock
   * (`Date.now()`), as bpmn-elements computes them. @default the global setTimeout/clearTimeout
   */
  wakeTimers?: EngineTimers;
  /** Epoch ms now, for `startedAt` / `endedAt`. @default Date.now */
  clock?: () => number;
  /** Receives failures of background work (listeners, timers, restore). @default console.error */
  onError?: (error: unknown) => void;
}

/** Options of `BpmnEnginePlugin.start`. */
export interface BpmnStartOptions {
  /** The new instance's id, e.g. a business id. @default crypto.randomUUID() */
  instanceId?: string;
}

interface LiveInstance {
  readonly engine: BpmnEngineInstance;
  readonly listener: EventEmitter;
  /** Callbacks of waiting service tasks, by bpmn-engine execution id. */
  readonly services: Map<string, BpmnServiceCallback>;
  execution?: BpmnExecution;
  /** Set by the engine's `end` / `error` events. */
  outcome?: { status: 'completed' } | { status: 'failed'; error: unknown };
}

/**
 * PEAL plugin for [bpmn-engine](https://github.com/paed01/bpmn-engine) 25.x: runs real BPMN 2.0
 * XML, one bpmn-engine `Engine` per instance.
 *
 * - **Service steps.** Every `serviceTask` (also `sendTask`, `businessRuleTask`) is a service
 *   step bound to the adapter whose `@ServiceAdapter({ step })` is the **task id**. The task waits
 *   (no `implementation` needed) and raises `service-step-entered` with bpmn-engine's execution id
 *   as `activationId`; PSI signals it when the adapter is done.
 * - **Wait states** are `receiveTask`, `userTask`, `manualTask` and message/signal intermediate
 *   catch events (also those behind an event-based gateway); the wait-state name is the
 *   **activity id**. Timer events (intermediate, boundary, behind an event-based gateway) are
 *   waits PSI does not signal: they fire by themselves, also across restarts.
 * - **Event-based gateways** are wait states too (one of many): a signal at the gateway's id
 *   completes the catch event its `transition` names — by the event's id, its `name`, or its
 *   message's `name` — and the gateway discards the others. A transition naming none of them is
 *   refused with TransitionUnknownError.
 * - **Variables** are the process environment's `variables`; a signal's `variables` are merged
 *   there before the activity completes (message payloads are not merged by bpmn-engine itself).
 * - **Transitions.** A signal's `transition` is written to the variable `psiTransition` (removed
 *   when a signal names none), for the conditions of the outgoing flows, e.g.
 *   `<conditionExpression language="javascript">next(null, environment.variables.psiTransition === 'printed')</conditionExpression>`.
 * - **Faults** are thrown as a BPMN error: caught by an error boundary event on the wait state
 *   whose `<error errorCode>` equals the fault code (or that names no error); else the instance is
 *   aborted.
 * - **State.** After every change the instance's record (PSI's view plus `engine.getState()`) is
 *   saved; a waiting instance keeps no live Engine: it is recovered from the record on the next
 *   signal, or when its earliest armed BPMN timer falls due (`timerDueAt`, armed on
 *   `wakeTimers`; the recovered Engine fires the expired timer at once). `restore()` recovers
 *   every running instance after a restart, raises its events again and re-arms its timers.
 */
export class BpmnEnginePlugin implements ProcessEngine {
  readonly name = 'bpmn-engine';

  private readonly sources = new Map<string, string>();
  private readonly repository: EngineStateRepository;
  private readonly clock: () => number;
  private readonly timers: object | undefined;
  private readonly wake: InstanceTimers<'bpmn'>;
  private readonly mutex = new KeyedMutex();
  private readonly live = new Map<string, LiveInstance>();
  private readonly syncQueued = new Set<string>();
  private readonly events: EngineEventHub;
  private readonly lifecycle: PluginLifecycle<BpmnInstanceRecord>;
  private readonly deployed: Promise<void>;

  constructor(options: BpmnEnginePluginOptions = {}) {
    this.repository = options.stateRepository ?? new InMemoryEngineStateRepository();
    this.clock = options.clock ?? (() => Date.now());
    this.timers = options.timers;
    this.wake = new InstanceTimers(options.wakeTimers ?? globalEngineTimers, () => Date.now());
    this.events = new EngineEventHub(
      options.onError ??
        ((error) => console.error('[@psi/engines] bpmn-engine plugin, background failure:', error)),
    );
    this.lifecycle = new PluginLifecycle({
      name: this.name,
      repository: this.repository,
      mutex: this.mutex,
      events: this.events,
      read: (instanceId) => this.read(instanceId),
      toSnapshot,
    });
    const initial = (options.definitions ?? []).map((d) =>
      typeof d === 'string' ? { source: d } : d,
    );
    this.deployed = Promise.all(initial.map((d) => this.deploy(d.source, d.id))).then(
      () => undefined,
    );
    // Reported through start/restore, which await it.
    this.deployed.catch(() => undefined);
  }

  /** Resolves once the definitions given to the constructor are deployed. */
  ready(): Promise<void> {
    return this.deployed;
  }

  /**
   * Deploys a BPMN document: it can be started under `id`, or under the id of its executable
   * process. Resolves with the ids it was registered under.
   * @throws ProcessDefinitionError when it has no executable process or cannot be read.
   */
  async deploy(source: string, id?: string): Promise<string[]> {
    let processIds: string[];
    try {
      const definitions = (await new Engine({ source }).getDefinitions()) as unknown as
        BpmnDefinition[] | undefined;
      processIds = (definitions ?? []).flatMap((d) => d.getExecutableProcesses().map((p) => p.id));
    } catch (error) {
      throw new ProcessDefinitionError(id ?? 'bpmn', [
        `the BPMN XML cannot be read: ${error instanceof Error ? error.message : String(error)}`,
      ]);
    }
    if (processIds.length !== 1) {
      throw new ProcessDefinitionError(id ?? processIds.join(', ') ?? 'bpmn', [
        `a document must hold exactly one executable process, it holds ${processIds.length}`,
      ]);
    }
    const ids = [...new Set([id ?? processIds[0], processIds[0]])];
    for (const key of ids) this.sources.set(key, source);
    return ids;
  }

  /**
   * Starts an instance of a deployed document and runs it to its first wait (or its end);
   * resolves with its id once that state is persisted and its events emitted.
   * @throws ProcessDefinitionUnknownError, InstanceExistsError, VariablesInvalidError
   */
  async start(
    definitionId: string,
    variables: Variables = {},
    options: BpmnStartOptions = {},
  ): Promise<string> {
    this.assertRunning();
    await this.deployed;
    const source = this.sources.get(definitionId);
    if (source === undefined) {
      throw new ProcessDefinitionUnknownError(definitionId, [...this.sources.keys()]);
    }
    const initial = toJsonVariables(variables);
    const instanceId = options.instanceId ?? randomUUID();
    await this.mutex.run(instanceId, async () => {
      if (this.live.has(instanceId) || (await this.read(instanceId)) !== undefined) {
        throw new InstanceExistsError(instanceId);
      }
      const record: BpmnInstanceRecord = {
        version: 1,
        instanceId,
        definitionId,
        status: 'running',
        variables: initial,
        waits: [],
        timers: false,
        startedAt: this.clock(),
      };
      const holder: { live?: LiveInstance } = {};
      const engine = new Engine({
        ...this.engineOptions(instanceId),
        source,
        extensions: { psi: this.serviceExtension(() => holder.live!) },
      });
      const live = (holder.live = this.createLive(instanceId, engine));
      this.live.set(instanceId, live);
      try {
        live.execution = (await live.engine.execute({
          listener: live.listener,
          variables: { ...initial },
        })) as unknown as BpmnExecution;
      } catch (error) {
        live.outcome ??= { status: 'failed', error };
      }
      await this.settle(record, live, { force: true });
    });
    return instanceId;
  }

  /**
   * Leaves `waitState`: merges `variables` into the process environment, writes `transition` to
   * `psiTransition`, then completes the activity, or throws `fault` as a BPMN error (caught by a
   * matching error boundary event, else the instance is aborted). A signal whose `signalId` the
   * instance already took resolves and changes nothing.
   * @throws InstanceNotFoundError; EngineSignalRejectedError naming the current wait states.
   */
  async signal(instanceId: string, waitState: string, options: SignalOptions = {}): Promise<void> {
    this.assertRunning();
    const variables = options.variables === undefined ? {} : toJsonVariables(options.variables);
    await this.mutex.run(instanceId, async () => {
      const record = await this.require(instanceId);
      if (wasApplied(record, options.signalId)) return;
      const point =
        record.status === 'running' ? record.waits.find((w) => w.id === waitState) : undefined;
      if (!point)
        throw new EngineSignalRejectedError(instanceId, waitState, waitStateNames(record));
      const live = await this.ensureLive(record);
      const postponed = live.execution?.getPostponed() ?? [];
      const api = postponed.find((a) => a.id === waitState && isWaitPoint(a));
      if (!api) {
        // The recovered engine disagrees with the record: trust the engine, refuse the signal.
        await this.settle(record, live, { force: true });
        throw new EngineSignalRejectedError(instanceId, waitState, waitStateNames(record));
      }
      // An event-based gateway is left through the event its transition names.
      let chosen = api;
      if (api.owner.type === EVENT_BASED_GATEWAY && !options.fault) {
        try {
          chosen = chooseGatewayEvent(instanceId, api, postponed, options.transition);
        } catch (error) {
          await this.settle(record, live, { force: false });
          throw error;
        }
      }
      // Saved with the signal's effect by `abort` or `settle` below.
      recordApplied(record, options.signalId);
      const environment = this.processEnvironment(live);
      environment.assignVariables({ ...variables });
      if (options.transition === undefined) delete environment.variables[PSI_TRANSITION_VARIABLE];
      else environment.variables[PSI_TRANSITION_VARIABLE] = options.transition;
      if (options.fault) {
        const boundary = postponed.find((a) => catchesFault(a, waitState, options.fault!.code));
        if (!boundary) {
          await this.abort(record, live, options.fault);
          return;
        }
        const errorRef = errorRefOf(boundary);
        boundary.sendApiMessage('throw', {
          message: { id: errorRef, code: options.fault.code, message: options.fault.message },
        });
      } else if (point.kind === 'service') {
        const callback = live.services.get(api.executionId);
        if (!callback) {
          throw new EngineStateError(
            instanceId,
            `service task "${waitState}" has no pending execution`,
          );
        }
        live.services.delete(api.executionId);
        callback(null, { ...variables });
      } else {
        chosen.signal({ ...variables });
      }
      await this.settle(record, live, { force: true });
    });
  }

  /** Whether the instance took the signal named `signalId`. @throws InstanceNotFoundError */
  async hasAppliedSignal(instanceId: string, signalId: string): Promise<boolean> {
    return wasApplied(await this.require(instanceId), signalId);
  }

  /** Whether the instance ended (completed, aborted, failed). @throws InstanceNotFoundError */
  isEnded(instanceId: string): Promise<boolean> {
    return this.lifecycle.isEnded(instanceId);
  }

  /** The instance's variables (a copy). @throws InstanceNotFoundError */
  async getVariables(instanceId: string): Promise<Variables> {
    return (await this.require(instanceId)).variables;
  }

  /**
   * Merges `variables` into the instance without moving it; also allowed on ended instances.
   * @throws InstanceNotFoundError, VariablesInvalidError
   */
  async setVariables(instanceId: string, variables: Variables): Promise<void> {
    this.assertRunning();
    const update = toJsonVariables(variables);
    await this.mutex.run(instanceId, async () => {
      const record = await this.require(instanceId);
      if (record.status !== 'running') {
        Object.assign(record.variables, update);
        await this.repository.save(
          this.name,
          instanceId,
          JSON.stringify(record),
          PluginLifecycle.index(record),
        );
        return;
      }
      const live = await this.ensureLive(record);
      this.processEnvironment(live).assignVariables(update);
      await this.settle(record, live, { force: true });
    });
  }

  /** The activity ids the instance can be signalled at; empty once it ended. */
  async getWaitStates(instanceId: string): Promise<readonly string[]> {
    return waitStateNames(await this.require(instanceId));
  }

  /** A copy of the instance as last persisted. @throws InstanceNotFoundError */
  async getInstance(instanceId: string): Promise<InstanceSnapshot> {
    return toSnapshot(await this.require(instanceId));
  }

  /**
   * Resolves with the final snapshot once the instance ends, at once when it already has.
   * @throws InstanceNotFoundError; EngineStoppedError when the plugin stops first.
   */
  whenEnded(instanceId: string): Promise<InstanceSnapshot> {
    return this.lifecycle.whenEnded(instanceId);
  }

  /** Registers a listener; its exceptions are reported to `onError` and never stop the engine. */
  subscribe(listener: EngineEventListener): () => void {
    return this.events.subscribe(listener);
  }

  /**
   * Picks up every running instance in the state repository (after a restart): recovers its
   * Engine (BPMN timers that expired meanwhile fire at once; the others are re-armed with the
   * time left) and raises `service-step-entered` (same
   * activationId) or `wait-state-entered` for every activity it waits at. Instances that cannot
   * be restored are reported to `onError` and skipped.
   */
  async restore(): Promise<void> {
    this.assertRunning();
    await this.deployed;
    await this.lifecycle.restoreAll(async (id) => {
      const record = await this.read(id);
      if (!record || record.status !== 'running') return;
      await this.dropLive(id);
      const live = await this.ensureLive(record);
      await this.settle(record, live, { force: false, replay: true });
    });
  }

  /** Number of instances that hold a live bpmn-engine Engine right now. */
  get liveInstances(): number {
    return this.live.size;
  }

  /**
   * Stops every live Engine and emits no event from now on; resolves once operations in progress
   * have persisted their state. Pending `whenEnded` calls reject with EngineStoppedError.
   */
  async stop(): Promise<void> {
    await this.lifecycle.stop(
      () => this.wake.clearAll(),
      async () => {
        for (const id of [...this.live.keys()]) await this.dropLive(id);
      },
    );
  }

  private engineOptions(instanceId: string): BpmnEngineOptions {
    const options: BpmnEngineOptions = { name: instanceId };
    if (this.timers) options.timers = this.timers;
    return options;
  }

  private createLive(instanceId: string, engine: BpmnEngineInstance): LiveInstance {
    const live: LiveInstance = {
      engine,
      listener: new EventEmitter(),
      services: new Map(),
    };
    const schedule = () => this.scheduleSync(instanceId, live);
    for (const event of ['activity.wait', 'activity.end', 'activity.timer', 'activity.leave']) {
      live.listener.on(event, schedule);
    }
    engine.on('end', () => {
      live.outcome ??= { status: 'completed' };
      schedule();
    });
    engine.on('error', (error: unknown) => {
      live.outcome ??= { status: 'failed', error };
      schedule();
    });
    return live;
  }

  /** The extension giving every service task an implementation that waits for PSI. */
  private serviceExtension(live: () => LiveInstance): (activity: BpmnExtensionActivity) => void {
    return (activity) => {
      if (!SERVICE_TYPES.has(activity.type)) return;
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

  private async ensureLive(record: BpmnInstanceRecord): Promise<LiveInstance> {
    const existing = this.live.get(record.instanceId);
    if (existing) return existing;
    if (record.engineState === undefined) {
      throw new EngineStateError(record.instanceId, 'it has no bpmn-engine state to recover');
    }
    const holder: { live?: LiveInstance } = {};
    const engine = new Engine({
      ...this.engineOptions(record.instanceId),
      extensions: { psi: this.serviceExtension(() => holder.live!) },
    }).recover(JSON.parse(JSON.stringify(record.engineState)));
    const live = (holder.live = this.createLive(record.instanceId, engine));
    this.live.set(record.instanceId, live);
    try {
      live.execution = (await engine.resume({
        listener: live.listener,
      })) as unknown as BpmnExecution;
    } catch (error) {
      await this.dropLive(record.instanceId);
      throw new EngineStateError(record.instanceId, 'bpmn-engine could not resume it', {
        cause: error,
      });
    }
    return live;
  }

  private scheduleSync(instanceId: string, live: LiveInstance): void {
    if (this.syncQueued.has(instanceId) || this.lifecycle.stopped) return;
    this.syncQueued.add(instanceId);
    this.events.background(
      this.mutex.run(instanceId, async () => {
        this.syncQueued.delete(instanceId);
        if (this.live.get(instanceId) !== live || this.lifecycle.stopped) return;
        const record = await this.read(instanceId);
        if (!record || record.status !== 'running') return;
        await this.settle(record, live, { force: false });
      }),
    );
  }

  /**
   * Reads the live engine into the record; saves it and emits the differences when anything
   * changed (always with `force`); drops the live Engine once the instance ended or only waits.
   */
  private async settle(
    record: BpmnInstanceRecord,
    live: LiveInstance,
    options: { force: boolean; replay?: boolean },
  ): Promise<void> {
    const before = options.replay ? [] : record.waits;
    const beforeJson = JSON.stringify([
      record.status,
      record.waits,
      record.variables,
      record.timerDueAt,
    ]);
    let engineState: unknown;
    const events: EngineEvent[] = [];
    record.variables = this.readVariables(live, record.variables);
    if (live.outcome) {
      record.status = live.outcome.status;
      if (live.outcome.status === 'failed') {
        const error = live.outcome.error;
        record.fault = {
          code: 'PSI_BPMN_ENGINE_ERROR',
          message: error instanceof Error ? error.message : String(error),
        };
      }
      record.waits = [];
      record.timers = false;
      delete record.timerDueAt;
      record.endedAt = this.clock();
      delete record.engineState;
      events.push({
        type: 'instance-ended',
        instanceId: record.instanceId,
        outcome: record.status,
      });
    } else {
      const postponed = live.execution?.getPostponed() ?? [];
      record.waits = waitPointsOf(postponed);
      engineState = await live.engine.getState();
      const timerDueAt = earliestTimerDue(engineState);
      record.timers = timerDueAt !== undefined;
      if (timerDueAt === undefined) delete record.timerDueAt;
      else record.timerDueAt = timerDueAt;
      const known = new Set(before.map((w) => w.executionId));
      for (const point of record.waits) {
        if (known.has(point.executionId)) continue;
        events.push(
          point.kind === 'service'
            ? {
                type: 'service-step-entered',
                instanceId: record.instanceId,
                step: point.id,
                activationId: point.executionId,
              }
            : { type: 'wait-state-entered', instanceId: record.instanceId, waitState: point.id },
        );
      }
    }
    const changed =
      beforeJson !==
      JSON.stringify([record.status, record.waits, record.variables, record.timerDueAt]);
    if (options.force || changed || options.replay) {
      if (record.status === 'running') record.engineState = engineState;
      await this.repository.save(
        this.name,
        record.instanceId,
        JSON.stringify(record),
        PluginLifecycle.index(record),
      );
    }
    // No live Engine between changes: PSI's own timer wakes the instance for its BPMN timers.
    await this.dropLive(record.instanceId);
    this.syncWake(record);
    this.lifecycle.publish(record, events);
  }

  private async abort(
    record: BpmnInstanceRecord,
    live: LiveInstance,
    fault: { code: string; message: string },
  ): Promise<void> {
    record.variables = this.readVariables(live, record.variables);
    record.status = 'aborted';
    record.fault = { code: fault.code, message: fault.message };
    record.waits = [];
    record.timers = false;
    delete record.timerDueAt;
    record.endedAt = this.clock();
    delete record.engineState;
    await this.repository.save(
      this.name,
      record.instanceId,
      JSON.stringify(record),
      PluginLifecycle.index(record),
    );
    await this.dropLive(record.instanceId);
    this.syncWake(record);
    this.lifecycle.publish(record, [
      { type: 'instance-ended', instanceId: record.instanceId, outcome: 'aborted' },
    ]);
  }

  /** Arms the wake-up for the instance's earliest BPMN timer, or clears it. */
  private syncWake(record: BpmnInstanceRecord): void {
    const { instanceId, timerDueAt } = record;
    this.wake.sync(
      instanceId,
      'bpmn',
      record.status === 'running' && timerDueAt !== undefined && !this.lifecycle.stopped
        ? {
            key: String(timerDueAt),
            dueAt: timerDueAt,
            fire: () => this.events.background(this.fireTimer(instanceId, timerDueAt)),
          }
        : undefined,
    );
  }

  /**
   * A BPMN timer of a waiting instance fell due: recover its Engine, which fires the expired
   * timer while resuming, and persist where the instance went.
   */
  private async fireTimer(instanceId: string, dueAt: number): Promise<void> {
    await this.mutex.run(instanceId, async () => {
      if (this.lifecycle.stopped) return;
      const record = await this.read(instanceId);
      if (!record || record.status !== 'running' || record.timerDueAt !== dueAt) return;
      // Woken a little early (timer rounding): bpmn-engine would arm it again; wait instead.
      if (Date.now() < dueAt) return this.syncWake(record);
      const live = await this.ensureLive(record);
      await this.settle(record, live, { force: true });
    });
  }

  private async dropLive(instanceId: string): Promise<void> {
    const live = this.live.get(instanceId);
    if (!live) return;
    this.live.delete(instanceId);
    live.listener.removeAllListeners();
    live.engine.removeAllListeners();
    live.engine.on('error', () => undefined);
    if (live.engine.state !== 'running') return;
    try {
      await live.engine.stop();
    } catch (error) {
      this.events.report(error);
    }
  }

  private processEnvironment(live: LiveInstance): BpmnEnvironment {
    const definition = live.execution?.definitions[0];
    if (!definition) throw new Error('bpmn-engine execution has no definition');
    const running = definition.getRunningProcesses()[0];
    if (running) return running.environment;
    const any = (
      definition as unknown as { getProcesses(): Array<{ environment: BpmnEnvironment }> }
    ).getProcesses()[0];
    return any?.environment ?? definition.environment;
  }

  private readVariables(live: LiveInstance, fallback: Variables): Variables {
    let environment: BpmnEnvironment;
    try {
      environment = this.processEnvironment(live);
    } catch {
      return fallback;
    }
    const variables: Variables = {};
    for (const [key, value] of Object.entries(environment.variables ?? {})) {
      if (!RESERVED_VARIABLES.has(key)) variables[key] = value;
    }
    return toJsonVariables(variables);
  }

  private async read(instanceId: string): Promise<BpmnInstanceRecord | undefined> {
    const json = await this.repository.load(this.name, instanceId);
    return json === undefined ? undefined : parseBpmnInstanceRecord(instanceId, json);
  }

  private require(instanceId: string): Promise<BpmnInstanceRecord> {
    return this.lifecycle.require(instanceId);
  }

  private assertRunning(): void {
    this.lifecycle.assertRunning();
  }
}

function isWaitPoint(api: BpmnPostponedApi): boolean {
  const type = api.owner?.type;
  if (SERVICE_TYPES.has(type)) return true;
  if (!WAIT_TYPES.has(type)) return false;
  if (type !== 'bpmn:IntermediateCatchEvent') return true;
  if (!SIGNALLABLE_EVENT_DEFINITIONS.has(api.type)) return false;
  // A catch event that only waits for time is not signalled: its timer fires by itself.
  const definitions = api.owner.behaviour?.eventDefinitions ?? [];
  return !(definitions.length > 0 && definitions.every((d) => d.type === TIMER_EVENT_DEFINITION));
}

function waitPointsOf(postponed: readonly BpmnPostponedApi[]): BpmnWaitPoint[] {
  const points: BpmnWaitPoint[] = [];
  const seen = new Set<string>();
  for (const api of postponed) {
    if (!isWaitPoint(api)) continue;
    const executionId = String(api.content?.executionId ?? api.executionId);
    if (seen.has(executionId)) continue;
    seen.add(executionId);
    points.push({
      id: api.id,
      kind: SERVICE_TYPES.has(api.owner.type) ? 'service' : 'wait',
      executionId,
    });
  }
  return points;
}

/**
 * The catch event behind an event-based gateway that `transition` names: by its id, its `name`,
 * or the name of its message. @throws TransitionUnknownError naming the events it waits for.
 */
function chooseGatewayEvent(
  instanceId: string,
  gateway: BpmnPostponedApi,
  postponed: readonly BpmnPostponedApi[],
  transition: string | undefined,
): BpmnPostponedApi {
  const targets = new Set((gateway.owner.outbound ?? []).map((flow) => flow.targetId));
  const events = postponed.filter((a) => targets.has(a.id) && isWaitPoint(a));
  const namesOf = (event: BpmnPostponedApi): string[] => {
    const names = [event.id];
    if (event.owner.name) names.push(event.owner.name);
    for (const definition of event.owner.behaviour?.eventDefinitions ?? []) {
      const message = definition.behaviour?.messageRef?.name;
      if (message) names.push(message);
    }
    return names;
  };
  const chosen =
    transition === undefined ? undefined : events.find((e) => namesOf(e).includes(transition));
  if (!chosen) {
    const known = [...new Set(events.flatMap(namesOf))];
    throw new TransitionUnknownError(instanceId, gateway.id, transition, known);
  }
  return chosen;
}

function errorRefOf(api: BpmnPostponedApi): string | undefined {
  const definition = api.owner.behaviour?.eventDefinitions?.find(
    (d) => d.type === 'bpmn:ErrorEventDefinition',
  );
  return definition?.behaviour?.errorRef?.id;
}

/** Whether `api` is an error boundary event on `waitState` that catches `code`. */
function catchesFault(api: BpmnPostponedApi, waitState: string, code: string): boolean {
  if (api.owner?.type !== 'bpmn:BoundaryEvent' || api.type !== 'bpmn:ErrorEventDefinition') {
    return false;
  }
  if (api.owner.behaviour?.attachedTo?.id !== waitState) return false;
  const errorRef = errorRefOf(api);
  if (errorRef === undefined) return true;
  const resolved = api.owner.getActivityById(errorRef)?.resolve({ content: {} });
  return resolved?.code === code;
}

function waitStateNames(record: BpmnInstanceRecord): string[] {
  if (record.status !== 'running') return [];
  return [...new Set(record.waits.map((w) => w.id))];
}

function toSnapshot(record: BpmnInstanceRecord): InstanceSnapshot {
  return storedRecordSnapshot(record, {
    waitStates: waitStateNames(record),
    variables: record.variables,
    history: [],
  });
}
