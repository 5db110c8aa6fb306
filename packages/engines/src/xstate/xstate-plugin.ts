// Just over 400 lines: the plugin's PEAL surface over one actor-less lifecycle; the machine
// analysis, macrosteps, runtime loading and records are already files of their own.
import { randomUUID } from 'node:crypto';
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
import { globalEngineTimers } from '../shared/engine-timers';
import {
  InstanceExistsError,
  ProcessDefinitionError,
  ProcessDefinitionUnknownError,
  TransitionRefusedError,
  TransitionUnknownError,
} from '../errors';
import type { InstanceSnapshot } from '../shared/instance-snapshot';
import { InstanceTimers, type WantedTimer } from '../shared/instance-timers';
import { toJsonVariables } from '../shared/json-variables';
import { backgroundFailures } from '../shared/background-failures';
import { EngineEventHub } from '../shared/engine-event-hub';
import { asResumed } from '../shared/resumed-events';
import { PluginLifecycle } from '../shared/plugin-lifecycle';
import { recordApplied, wasApplied } from '../shared/signal-ids';
import { storedRecordSnapshot } from '../shared/stored-instance-record';
import {
  PSI_FAULT_EVENT_PREFIX,
  compileXStateProcess,
  descriptorMatches,
  type CompiledXStateProcess,
} from './xstate-definition';
import {
  parseXStateInstanceRecord,
  type XStateInstanceRecord,
  type XStateTimer,
} from './xstate-instance-record';
import type { XStatePluginOptions, XStateStartOptions } from './xstate-plugin-options';
import { loadXState, type XStateRuntime } from './xstate-runtime';
import { MacrostepFolder, asMacrostep, enteredEvent } from './xstate-macrostep';
import { knownEvents, leafAt, restoreSnapshot, takesEvent } from './xstate-state-queries';

/**
 * PEAL plugin for [XState](https://stately.ai/docs/xstate) 5: a machine is the process
 * definition, its `context` holds the process variables, and every leaf state is a wait state.
 *
 * - **Wait states** are the leaf states the instance is in (parallel regions give several), named
 *   by their dotted key path from the root: `await-confirmation`, `review.await-approval`.
 * - **Signals are events**: `signal(id, state, { transition, variables })` merges `variables` into
 *   `context`, then sends the event `{ type: transition, variables }` (the `defaultEvent`, `done`,
 *   when no transition is named). It must be handled by that state or one of its ancestors, else
 *   TransitionUnknownError (TransitionRefusedError when only a guard said no); a state the
 *   instance is not in is refused with EngineSignalRejectedError.
 * - **Service steps** are leaf states tagged `psi.service` ({@link PSI_SERVICE_TAG}): entering one
 *   raises `service-step-entered` with the **state path as step**, so `@ServiceAdapter({ step })`
 *   binds an adapter to it; PSI signals it (usually with the default event) when the adapter is
 *   done. Other leaf states raise `wait-state-entered`. `invoke` is refused: services run through
 *   adapters, so the machine stays pure data.
 * - **Faults** are sent as the event `fault.<code>` (with `code` and `message`): a machine catches
 *   them with `on: { 'fault.PSI_TIMEOUT': ... }` or `'fault.*'`; an uncaught fault aborts the
 *   instance. A throwing action, guard or `assign` ends it `failed` (`PSI_XSTATE_MACHINE_FAILED`).
 * - **State.** Transitions are computed with XState's pure `transition()`: no actor is ever
 *   started, and a waiting instance is only its persisted snapshot in the store. Custom actions
 *   run (at least once) when their transition is computed. XState keeps delayed events (`after`)
 *   only inside a live actor, so the plugin keeps them itself: their due times are persisted,
 *   armed on PSI-side timers, and re-armed by `restore()` (firing at once when they fell due while
 *   nothing ran).
 */
export class XStatePlugin implements ProcessEngine {
  readonly name = 'xstate';

  private readonly processes = new Map<string, CompiledXStateProcess>();
  private readonly repository: EngineStateRepository;
  private readonly clock: () => number;
  private readonly defaultEvent: string;
  private readonly timers: InstanceTimers<string>;
  private readonly mutex = new KeyedMutex();
  private readonly events: EngineEventHub;
  private readonly lifecycle: PluginLifecycle<XStateInstanceRecord>;
  private readonly xstate: XStateRuntime;
  private readonly folder: MacrostepFolder;

  /**
   * @throws ProcessDefinitionError when a machine cannot run here or two share an id;
   * EngineDependencyMissingError when `xstate` is not installed.
   */
  constructor(options: XStatePluginOptions) {
    this.xstate = loadXState();
    this.folder = new MacrostepFolder(options.clock ?? (() => Date.now()));
    for (const definition of options.definitions) {
      const process = compileXStateProcess(definition);
      if (this.processes.has(process.id)) {
        throw new ProcessDefinitionError(process.id, ['another definition has the same id']);
      }
      this.processes.set(process.id, process);
    }
    this.repository = options.stateRepository ?? new InMemoryEngineStateRepository();
    this.clock = options.clock ?? (() => Date.now());
    this.defaultEvent = options.defaultEvent ?? 'done';
    this.timers = new InstanceTimers<string>(options.timers ?? globalEngineTimers, this.clock);
    this.events = new EngineEventHub(backgroundFailures('xstate plugin', options));
    this.lifecycle = new PluginLifecycle({
      name: this.name,
      repository: this.repository,
      mutex: this.mutex,
      events: this.events,
      read: (instanceId) => this.read(instanceId),
      toSnapshot,
    });
  }

  /**
   * Starts an instance: `variables` are the machine's `input` and are merged over its initial
   * `context`. Runs to the first wait state (or the end); resolves with the instance id once that
   * state is persisted and its events emitted.
   *
   * @throws ProcessDefinitionUnknownError, InstanceExistsError, VariablesInvalidError
   */
  async start(
    definitionId: string,
    variables: Variables = {},
    options: XStateStartOptions = {},
  ): Promise<string> {
    this.assertRunning();
    const process = this.process(definitionId);
    const initial = toJsonVariables(variables);
    const instanceId = options.instanceId ?? randomUUID();
    await this.mutex.run(instanceId, async () => {
      if ((await this.read(instanceId)) !== undefined) throw new InstanceExistsError(instanceId);
      const record: XStateInstanceRecord = {
        version: 1,
        instanceId,
        definitionId,
        status: 'running',
        snapshot: { value: null, context: initial, status: 'active' },
        waits: [],
        activations: {},
        timers: [],
        history: [],
        startedAt: this.clock(),
      };
      const events: EngineEvent[] = [];
      this.folder.apply(
        process,
        record,
        () => asMacrostep(this.xstate.initialTransition(process.machine, initial)),
        events,
      );
      await this.commit(record, events);
    });
    return instanceId;
  }

  /**
   * Leaves `waitState` with an event: merges `variables` into `context`, then sends
   * `fault.<code>` for a fault (uncaught: the instance is aborted), else `transition` (or the
   * `defaultEvent`). A signal whose `signalId` the instance already took resolves and changes
   * nothing.
   *
   * @throws InstanceNotFoundError; EngineSignalRejectedError, naming the current wait states,
   * when the instance is not at `waitState`; TransitionUnknownError when neither the state nor
   * its ancestors handle the event; TransitionRefusedError when their guards refuse it.
   */
  async signal(instanceId: string, waitState: string, options: SignalOptions = {}): Promise<void> {
    this.assertRunning();
    const variables =
      options.variables === undefined ? undefined : toJsonVariables(options.variables);
    await this.mutex.run(instanceId, async () => {
      const record = await this.require(instanceId);
      if (wasApplied(record, options.signalId)) return;
      if (record.status !== 'running' || !record.waits.includes(waitState)) {
        throw new EngineSignalRejectedError(instanceId, waitState, waitStatesOf(record));
      }
      const process = this.process(record.definitionId);
      const leaf = leafAt(process, record, waitState);
      const context = { ...record.snapshot.context, ...variables };
      const snapshot = restoreSnapshot(this.xstate, process, record, context);
      const events: EngineEvent[] = [];
      if (options.fault) {
        const { code, message } = options.fault;
        const event = { type: `${PSI_FAULT_EVENT_PREFIX}${code}`, code, message };
        if (!takesEvent(process, snapshot, leaf, event)) {
          record.snapshot.context = context;
          this.folder.end(record, 'aborted', { code, message }, events);
          recordApplied(record, options.signalId);
          await this.commit(record, events);
          return;
        }
        this.folder.apply(
          process,
          record,
          () => asMacrostep(this.xstate.transition(process.machine, snapshot, event)),
          events,
        );
      } else {
        const type = options.transition ?? this.defaultEvent;
        const event = { type, variables: variables ?? {} };
        if (!takesEvent(process, snapshot, leaf, event)) {
          const known = knownEvents(leaf);
          if (known.some((descriptor) => descriptorMatches(descriptor, type))) {
            throw new TransitionRefusedError(instanceId, waitState, type);
          }
          throw new TransitionUnknownError(instanceId, waitState, options.transition, known);
        }
        this.folder.apply(
          process,
          record,
          () => asMacrostep(this.xstate.transition(process.machine, snapshot, event)),
          events,
        );
      }
      recordApplied(record, options.signalId);
      await this.commit(record, events);
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

  /** The instance's variables (a copy of its `context`). @throws InstanceNotFoundError */
  async getVariables(instanceId: string): Promise<Variables> {
    return (await this.require(instanceId)).snapshot.context;
  }

  /**
   * Merges `variables` into the instance's `context` without moving it; also allowed on ended
   * instances, so late results are kept. @throws InstanceNotFoundError, VariablesInvalidError
   */
  async setVariables(instanceId: string, variables: Variables): Promise<void> {
    this.assertRunning();
    const update = toJsonVariables(variables);
    await this.mutex.run(instanceId, async () => {
      const record = await this.require(instanceId);
      Object.assign(record.snapshot.context, update);
      await this.commit(record, []);
    });
  }

  /** The leaf states the instance can be signalled at; empty once it ended. @throws InstanceNotFoundError */
  async getWaitStates(instanceId: string): Promise<readonly string[]> {
    return waitStatesOf(await this.require(instanceId));
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

  /** Registers a listener; its exceptions are reported to `onError` and never stop the plugin. */
  subscribe(listener: EngineEventListener): () => void {
    return this.events.subscribe(listener);
  }

  /**
   * Picks up every running instance in the state repository (after a restart): delayed events
   * that fell due while nothing ran fire at once, in due order; the others are armed with the
   * time left; then every wait state raises its event again (`service-step-entered` with the same
   * activationId, `wait-state-entered`). Instances that cannot be restored are reported to
   * `onError` and skipped.
   */
  async restore(): Promise<void> {
    this.assertRunning();
    await this.lifecycle.restoreAll((id) => this.restoreInstance(id));
  }

  /** How many delayed events are armed on timers right now, over all instances. */
  get armedTimers(): number {
    return this.timers.size;
  }

  /**
   * Clears every timer and emits no event from now on; resolves once operations in progress have
   * persisted their state. Pending `whenEnded` calls reject with EngineStoppedError.
   */
  async stop(): Promise<void> {
    await this.lifecycle.stop(() => this.timers.clearAll());
  }

  private async restoreInstance(instanceId: string): Promise<void> {
    const record = await this.read(instanceId);
    if (!record || record.status !== 'running') return;
    const process = this.process(record.definitionId);
    const raised = new Set<string>();
    for (;;) {
      const now = this.clock();
      const due = record.timers.filter((t) => t.dueAt <= now).sort((a, b) => a.dueAt - b.dueAt)[0];
      if (!due || record.status !== 'running') break;
      const events: EngineEvent[] = [];
      this.fire(process, record, due, events);
      await this.commit(record, events);
      for (const event of events) {
        if (event.type === 'service-step-entered') raised.add(event.step);
        if (event.type === 'wait-state-entered') raised.add(event.waitState);
      }
    }
    if (record.status !== 'running') return;
    this.syncTimers(record);
    this.events.emit(
      asResumed(
        record.waits
          .filter((state) => !raised.has(state))
          .map((state) => enteredEvent(process, record, state)),
      ),
    );
  }

  private async fireTimer(instanceId: string, timerId: string, dueAt: number): Promise<void> {
    await this.mutex.run(instanceId, async () => {
      if (this.lifecycle.stopped) return;
      const record = await this.read(instanceId);
      if (!record || record.status !== 'running') return;
      const timer = record.timers.find((t) => t.id === timerId && t.dueAt === dueAt);
      if (!timer) return;
      const events: EngineEvent[] = [];
      this.fire(this.process(record.definitionId), record, timer, events);
      await this.commit(record, events);
    });
  }

  /** Sends a delayed event that fell due. */
  private fire(
    process: CompiledXStateProcess,
    record: XStateInstanceRecord,
    timer: XStateTimer,
    events: EngineEvent[],
  ): void {
    record.timers = record.timers.filter((t) => t !== timer);
    const snapshot = restoreSnapshot(this.xstate, process, record, record.snapshot.context);
    this.folder.apply(
      process,
      record,
      () => asMacrostep(this.xstate.transition(process.machine, snapshot, timer.event)),
      events,
    );
  }

  /** Persists, then re-arms timers, emits the events and settles `whenEnded` callers. */
  private async commit(
    record: XStateInstanceRecord,
    events: readonly EngineEvent[],
  ): Promise<void> {
    await this.repository.save(
      this.name,
      record.instanceId,
      JSON.stringify(record),
      PluginLifecycle.index(record),
    );
    this.syncTimers(record);
    this.lifecycle.publish(record, events);
  }

  private syncTimers(record: XStateInstanceRecord): void {
    const wanted = new Map<string, WantedTimer>();
    if (record.status === 'running' && !this.lifecycle.stopped) {
      const { instanceId } = record;
      for (const { id, dueAt } of record.timers) {
        wanted.set(id, {
          key: `${id}@${dueAt}`,
          dueAt,
          fire: () => this.events.background(this.fireTimer(instanceId, id, dueAt)),
        });
      }
    }
    this.timers.syncAll(record.instanceId, wanted);
  }

  private process(definitionId: string): CompiledXStateProcess {
    const process = this.processes.get(definitionId);
    if (!process) throw new ProcessDefinitionUnknownError(definitionId, [...this.processes.keys()]);
    return process;
  }

  private async read(instanceId: string): Promise<XStateInstanceRecord | undefined> {
    const json = await this.repository.load(this.name, instanceId);
    return json === undefined ? undefined : parseXStateInstanceRecord(instanceId, json);
  }

  private require(instanceId: string): Promise<XStateInstanceRecord> {
    return this.lifecycle.require(instanceId);
  }

  private assertRunning(): void {
    this.lifecycle.assertRunning();
  }
}

function waitStatesOf(record: XStateInstanceRecord): string[] {
  return record.status === 'running' ? [...record.waits] : [];
}

function toSnapshot(record: XStateInstanceRecord): InstanceSnapshot {
  return storedRecordSnapshot(record, {
    waitStates: waitStatesOf(record),
    variables: record.snapshot.context,
    history: [...record.history],
  });
}
