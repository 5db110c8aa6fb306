import { randomUUID } from 'node:crypto';
import {
  EngineSignalRejectedError,
  InMemoryEngineStateRepository,
  KeyedMutex,
  type EngineEventListener,
  type EngineStateRepository,
  type MessageStart,
  type ProcessEngine,
  type SignalOptions,
  type Variables,
} from '@psi/core';
import { EngineStateError, InstanceExistsError, MessageStartUnknownError } from '../errors';
import { backgroundFailures } from '../shared/background-failures';
import { EngineEventHub } from '../shared/engine-event-hub';
import { asResumed } from '../shared/resumed-events';
import type { InstanceSnapshot } from '../shared/instance-snapshot';
import { toJsonVariables } from '../shared/json-variables';
import { PluginLifecycle } from '../shared/plugin-lifecycle';
import { recordApplied, wasApplied } from '../shared/signal-ids';
import { storedRecordSnapshot } from '../shared/stored-instance-record';
import { BpmnDeployments, parseDocument } from './bpmn-deployments';
import { loadBpmnEngine } from './bpmn-internals';
import type { BpmnInstanceRecord } from './bpmn-instance-record';
import { BpmnInstanceKeeper } from './bpmn-instance-keeper';
import type { BpmnEnginePluginOptions, BpmnStartOptions } from './bpmn-plugin-options';
import { changeEvents, processEnvironment } from './bpmn-progress';
import { applySignal, chooseGatewayEvent } from './bpmn-signals';
import { EVENT_BASED_GATEWAY, entryNamed, walkPostponed } from './bpmn-wait-points';

/**
 * PEAL plugin for [bpmn-engine](https://github.com/paed01/bpmn-engine) 25.x: runs real BPMN 2.0
 * XML. The README's table of BPMN elements says how each element maps; in short: service, send
 * and business-rule tasks are **service steps** (the adapter whose `@ServiceAdapter({ step })` is
 * the task id); receive, user and manual tasks, call activities, message and signal catch
 * events (intermediate, boundary, start) and event-based gateways are **wait states** named by
 * the activity id, inside sub-processes too and per multi-instance iteration (each entry has its
 * `activationId`); `wait-state-entered` says what the model waits for (`awaits`), so PSI records
 * the expectation itself. A signal's `variables` go to the process (and a sub-process's copy),
 * its `transition` to `psiTransition` for conditions, its `payload` to the activity as its
 * message; a `fault` goes to the innermost matching error boundary event, else the instance is
 * aborted. Each document is parsed once; an instance's Engine stays live between its signals
 * (`liveEngines`) and is rebuilt from the saved record after a restart, an eviction or a BPMN
 * timer's wake-up. An instance that can neither wait nor move is reported and ends `failed`.
 */
export class BpmnEnginePlugin implements ProcessEngine {
  readonly name = 'bpmn-engine';

  private readonly deployments: BpmnDeployments;
  private readonly keeper: BpmnInstanceKeeper;
  private readonly repository: EngineStateRepository;
  private readonly clock: () => number;
  private readonly mutex = new KeyedMutex();
  private readonly events: EngineEventHub;
  private readonly lifecycle: PluginLifecycle<BpmnInstanceRecord>;
  private readonly deployed: Promise<void>;

  /** @throws EngineDependencyMissingError when bpmn-engine is not installed. */
  constructor(options: BpmnEnginePluginOptions = {}) {
    const Engine = loadBpmnEngine();
    this.repository = options.stateRepository ?? new InMemoryEngineStateRepository();
    this.clock = options.clock ?? (() => Date.now());
    this.events = new EngineEventHub(backgroundFailures('bpmn-engine plugin', options));
    this.deployments = new BpmnDeployments((source) =>
      parseDocument(Engine, source, options.moddleOptions),
    );
    this.keeper = new BpmnInstanceKeeper({
      name: this.name,
      Engine,
      options,
      repository: this.repository,
      deployments: this.deployments,
      mutex: this.mutex,
      events: this.events,
      clock: this.clock,
      // Only a clock of the caller's can be off the real time (a test clock).
      clockOffset: options.clock ? () => Date.now() - this.clock() : () => 0,
      lifecycle: () => this.lifecycle,
    });
    this.lifecycle = new PluginLifecycle({
      name: this.name,
      repository: this.repository,
      mutex: this.mutex,
      events: this.events,
      read: (instanceId) => this.keeper.read(instanceId),
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
   * Parses a BPMN document once and registers it: one executable process is started under `id`
   * or its process id; each of several under its own process id. Resolves with those ids.
   * @throws ProcessDefinitionError when it cannot be read or run (no executable process, a
   *   sequence flow without id, a correlation key PSI cannot evaluate, an id for several processes).
   */
  deploy(source: string, id?: string): Promise<string[]> {
    return this.deployments.deploy(source, id);
  }

  /**
   * Starts an instance of a deployed process and runs it to its first wait (or its end);
   * resolves with its id once that state is persisted and its events emitted. With
   * `startEvent`, that message or signal start event takes `payload` at once.
   * @throws ProcessDefinitionUnknownError, InstanceExistsError, VariablesInvalidError
   */
  async start(
    definitionId: string,
    variables: Variables = {},
    options: BpmnStartOptions = {},
  ): Promise<string> {
    this.assertRunning();
    await this.deployed;
    const deployment = this.deployments.get(definitionId);
    const initial = toJsonVariables(variables);
    const instanceId = options.instanceId ?? randomUUID();
    await this.mutex.run(instanceId, async () => {
      if ((await this.keeper.read(instanceId)) !== undefined)
        throw new InstanceExistsError(instanceId);
      const record: BpmnInstanceRecord = {
        version: 1,
        instanceId,
        definitionId,
        status: 'running',
        variables: initial,
        waits: [],
        timers: false,
        revision: 0,
        startedAt: this.clock(),
      };
      const live = await this.keeper.engines.start(instanceId, deployment, { ...initial });
      if (options.startEvent !== undefined && !live.outcome) {
        const walk = walkPostponed(live.execution!.getPostponed(), (id) =>
          this.keeper.servesStep(deployment, id),
        );
        const point = walk.points.find((p) => p.id === options.startEvent);
        if (!point) {
          await this.keeper.engines.drop(instanceId);
          throw new EngineSignalRejectedError(
            instanceId,
            options.startEvent,
            walk.points.map((p) => p.id),
          );
        }
        point.api.signal(options.payload !== undefined ? options.payload : { ...initial });
      }
      await this.keeper.settle(record, live, { force: true });
    });
    return instanceId;
  }

  /**
   * Starts the deployed process whose message or signal start event catches `event` (its
   * message's or signal's name) and hands it `payload`: a process started by a message.
   * @throws MessageStartUnknownError when no deployed process, or several, start on `event`.
   */
  async startByMessage(
    event: string,
    variables: Variables = {},
    options: { instanceId?: string; payload?: unknown } = {},
  ): Promise<string> {
    this.assertRunning();
    await this.deployed;
    const starts = this.deployments.startsOn(event);
    if (starts.length !== 1) {
      throw new MessageStartUnknownError(
        event,
        starts.map((s) => `${s.deployment.id}/${s.startEventId}`),
      );
    }
    const [start] = starts;
    return this.start(start.deployment.id, variables, {
      ...options,
      startEvent: start.startEventId,
    });
  }

  /**
   * The message and signal start events of the deployed processes (PEAL's `messageStarts`):
   * PSI starts the process through `receive` when a message for one reaches no waiting instance.
   */
  async messageStarts(): Promise<readonly MessageStart[]> {
    await this.deployed;
    return this.deployments.starts().map((start) => ({
      event: start.event,
      definitionId: start.deployment.id,
      startEvent: start.startEventId,
    }));
  }

  /**
   * Leaves `waitState` (the entry `activationId` names, else the oldest): merges `variables`,
   * writes `transition` to `psiTransition`, then completes the activity with `payload` as its
   * message, or throws `fault` as a BPMN error (caught by the innermost matching error boundary
   * event, else the instance is aborted). A signal whose `signalId` the instance already took
   * resolves and changes nothing.
   * @throws InstanceNotFoundError; EngineSignalRejectedError naming the current wait states;
   *   TransitionUnknownError at an event-based gateway.
   */
  async signal(instanceId: string, waitState: string, options: SignalOptions = {}): Promise<void> {
    this.assertRunning();
    const variables = options.variables === undefined ? {} : toJsonVariables(options.variables);
    await this.mutex.run(instanceId, async () => {
      const record = await this.require(instanceId);
      if (wasApplied(record, options.signalId)) return;
      const { model } = this.deployments.get(record.definitionId);
      const named = entryNamed(record, waitState, options.activationId, (id) =>
        model.targetsOf(id),
      );
      if (record.status !== 'running' || !record.waits.some(named)) {
        throw new EngineSignalRejectedError(instanceId, waitState, waitStateNames(record));
      }
      const { live, deployment } = await this.keeper.liveFor(record);
      const walk = walkPostponed(live.execution!.getPostponed(), (id) =>
        this.keeper.servesStep(deployment, id),
      );
      const point = walk.points.find(named);
      if (!point) {
        // The recovered engine disagrees with the record: trust the engine, refuse the signal.
        await this.keeper.settle(record, live, { force: true });
        throw new EngineSignalRejectedError(instanceId, waitState, waitStateNames(record));
      }
      if (point.api.owner.type === EVENT_BASED_GATEWAY && !options.fault) {
        try {
          chooseGatewayEvent(instanceId, point, walk, options.transition);
        } catch (error) {
          await this.keeper.settle(record, live, { force: false });
          throw error;
        }
      }
      // Saved with the signal's effect by `abort` or `settle` below.
      recordApplied(record, options.signalId);
      let result: ReturnType<typeof applySignal>;
      try {
        result = applySignal({
          instanceId,
          live,
          walk,
          point,
          processEnvironment: processEnvironment(live),
          options,
          variables,
        });
      } catch (error) {
        live.operating = false;
        throw error;
      }
      if (result === 'uncaught-fault') await this.keeper.abort(record, options.fault!);
      else await this.keeper.settle(record, live, { force: true });
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

  /** The message and signal names the deployed documents wait for (PEAL's `declaredEvents`). */
  async declaredEvents(): Promise<readonly string[]> {
    await this.deployed;
    return [...this.deployments.events()];
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
        await this.keeper.save(record);
        return;
      }
      const { live } = await this.keeper.liveFor(record);
      processEnvironment(live).assignVariables(update);
      await this.keeper.settle(record, live, { force: true });
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
   * Picks up every running instance in the state repository (after a restart): re-arms its
   * BPMN timers (one that fell due meanwhile fires at once) and raises `service-step-entered`
   * (same activationId) or `wait-state-entered` for every entry it waits at, from its record:
   * its Engine is rebuilt only when it is signalled or a timer falls due. Instances that cannot
   * be restored are reported to `onError`.
   */
  async restore(): Promise<void> {
    this.assertRunning();
    await this.deployed;
    await this.lifecycle.restoreAll(async (id) => {
      const record = await this.keeper.read(id);
      if (!record || record.status !== 'running') return;
      const deployment = this.deployments.get(record.definitionId);
      if (record.engineState === undefined) {
        throw new EngineStateError(id, 'it has no bpmn-engine state to recover');
      }
      // The record says where the instance waits: no Engine is rebuilt until it is signalled
      // or its timer falls due.
      await this.keeper.engines.drop(id);
      this.lifecycle.publish(record, asResumed(changeEvents(record, deployment, [])));
      if (record.timerDueAt === undefined || record.timerDueAt > this.clock()) {
        this.keeper.syncWake(record);
        return;
      }
      // A timer fell due while nothing ran: the rebuilt Engine fires it now.
      const { live } = await this.keeper.liveFor(record);
      await this.keeper.settle(record, live, { force: true });
    });
  }

  /** Number of instances that hold a live bpmn-engine Engine right now. */
  get liveInstances(): number {
    return this.keeper.engines.size;
  }

  /**
   * Stops every live Engine and emits no event from now on; resolves once operations in progress
   * have persisted their state. Pending `whenEnded` calls reject with EngineStoppedError.
   */
  async stop(): Promise<void> {
    await this.lifecycle.stop(
      () => this.keeper.clearTimers(),
      () => this.keeper.engines.dropAll(),
    );
  }

  private require(instanceId: string): Promise<BpmnInstanceRecord> {
    return this.lifecycle.require(instanceId);
  }

  private assertRunning(): void {
    this.lifecycle.assertRunning();
  }
}

function waitStateNames(record: BpmnInstanceRecord): string[] {
  if (record.status !== 'running') return [];
  return [...new Set(record.waits.map((w) => w.id))];
}

function toSnapshot(record: BpmnInstanceRecord): InstanceSnapshot {
  return storedRecordSnapshot(record, {
    waitStates: waitStateNames(record),
    variables: record.variables,
    history: [...(record.history ?? [])],
  });
}
