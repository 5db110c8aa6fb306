// Just over 400 lines: the reference engine's PEAL surface (start, signal, restore, timers) over
// one instance lifecycle; its definitions, state cache and timers are already files of their own.
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
import { validateProcessDefinition } from './define-process';
import { globalEngineTimers } from '../shared/engine-timers';
import {
  InstanceExistsError,
  ProcessDefinitionError,
  ProcessDefinitionUnknownError,
  StartOptionsInvalidError,
  TransitionUnknownError,
} from '../errors';
import { InstanceRunner, restingStep } from './instance-runner';
import type { InstanceSnapshot } from '../shared/instance-snapshot';
import {
  parseInstanceState,
  serializeInstanceState,
  toSnapshot,
  waitStatesOf,
  type InstanceState,
} from './instance-state';
import { InstanceTimers } from '../shared/instance-timers';
import { toJsonVariables } from '../shared/json-variables';
import type { ProcessDefinition, ServiceStep, WaitStep } from './process-definition';
import type { ReferenceEngineOptions, StartOptions } from './reference-engine-options';
import { backgroundFailures } from '../shared/background-failures';
import { EngineEventHub } from '../shared/engine-event-hub';
import { PluginLifecycle } from '../shared/plugin-lifecycle';
import { recordApplied, wasApplied } from '../shared/signal-ids';
import { StateCache } from './state-cache';

/**
 * PSI's own small process engine, implementing PEAL in-process: script, service, wait, timer and
 * end steps, named transitions, fault handlers and an SLA per instance. Used by the demo and by
 * tests, and as the model other PEAL plugins are measured against.
 *
 * Every change is persisted (as JSON, via the state repository) before its events are emitted,
 * so a waiting instance needs no live object: after a restart, a new engine on the same
 * repository picks the instances up with {@link ReferenceEngine.restore}. Operations on one
 * instance run one at a time, in call order.
 */
export class ReferenceEngine implements ProcessEngine {
  readonly name = 'reference';

  private readonly definitions = new Map<string, ProcessDefinition>();
  private readonly repository: EngineStateRepository;
  private readonly clock: () => number;
  private readonly runner: InstanceRunner;
  private readonly timers: InstanceTimers;
  private readonly mutex = new KeyedMutex();
  private readonly cache: StateCache;
  private readonly events: EngineEventHub;
  private readonly lifecycle: PluginLifecycle<InstanceState>;

  /** @throws ProcessDefinitionError when a definition is invalid or two share an id. */
  constructor(options: ReferenceEngineOptions) {
    for (const definition of options.definitions) {
      const problems = validateProcessDefinition(definition);
      if (problems.length > 0) throw new ProcessDefinitionError(String(definition?.id), problems);
      if (this.definitions.has(definition.id)) {
        throw new ProcessDefinitionError(definition.id, ['another definition has the same id']);
      }
      this.definitions.set(definition.id, definition);
    }
    this.repository = options.stateRepository ?? new InMemoryEngineStateRepository();
    this.clock = options.clock ?? (() => Date.now());
    this.events = new EngineEventHub(backgroundFailures('reference engine', options));
    this.runner = new InstanceRunner(this.clock);
    this.timers = new InstanceTimers(options.timers ?? globalEngineTimers, this.clock);
    this.cache = new StateCache(options.cacheSize ?? 100);
    this.lifecycle = new PluginLifecycle({
      name: this.name,
      repository: this.repository,
      mutex: this.mutex,
      events: this.events,
      read: (instanceId) => this.read(instanceId),
      toSnapshot,
    });
  }

  /** The definition registered under `definitionId`; throws ProcessDefinitionUnknownError. */
  getDefinition(definitionId: string): ProcessDefinition {
    const definition = this.definitions.get(definitionId);
    if (!definition)
      throw new ProcessDefinitionUnknownError(definitionId, [...this.definitions.keys()]);
    return definition;
  }

  /**
   * Starts an instance and runs it to its first resting step (or its end); resolves with its id
   * once that state is persisted and its events emitted. A failing script does not reject: the
   * instance ends `failed`.
   *
   * @throws ProcessDefinitionUnknownError, InstanceExistsError, VariablesInvalidError,
   * StartOptionsInvalidError (an `slaMs` that is not a positive number)
   */
  async start(
    definitionId: string,
    variables: Variables = {},
    options: StartOptions = {},
  ): Promise<string> {
    this.assertRunning();
    const definition = this.getDefinition(definitionId);
    const slaMs = options.slaMs ?? definition.slaMs;
    if (options.slaMs !== undefined && !(Number.isFinite(options.slaMs) && options.slaMs > 0)) {
      throw new StartOptionsInvalidError(
        definitionId,
        `"slaMs" must be a positive number, got ${String(options.slaMs)}`,
      );
    }
    const initial = toJsonVariables(variables);
    const instanceId = options.instanceId ?? randomUUID();
    await this.mutex.run(instanceId, async () => {
      if ((await this.read(instanceId)) !== undefined) throw new InstanceExistsError(instanceId);
      const startedAt = this.clock();
      const state: InstanceState = {
        version: 1,
        instanceId,
        definitionId,
        status: 'running',
        variables: initial,
        history: [],
        startedAt,
      };
      if (slaMs !== undefined) {
        state.slaMs = slaMs;
        state.slaDueAt = startedAt + slaMs;
      }
      const events: EngineEvent[] = [];
      await this.runner.enter(definition, state, definition.start, events);
      await this.commit(state, events);
    });
    return instanceId;
  }

  /**
   * Leaves `waitState`: merges `variables`, then raises `fault` (step faults, then process
   * faults, else the instance is aborted), or follows `transition`, or the step's `next`.
   *
   * A signal whose `signalId` the instance already took resolves and changes nothing.
   *
   * @throws InstanceNotFoundError for an unknown id; EngineSignalRejectedError, naming the
   * current states, when the instance is not at `waitState` (e.g. an earlier signal moved it);
   * TransitionUnknownError for a transition the step does not have.
   */
  async signal(instanceId: string, waitState: string, options: SignalOptions = {}): Promise<void> {
    this.assertRunning();
    const variables =
      options.variables === undefined ? undefined : toJsonVariables(options.variables);
    await this.mutex.run(instanceId, async () => {
      const state = await this.require(instanceId);
      if (wasApplied(state, options.signalId)) return;
      if (
        state.status !== 'running' ||
        !state.at ||
        state.at.step !== waitState ||
        state.at.kind === 'timer'
      ) {
        throw new EngineSignalRejectedError(instanceId, waitState, state.at ? [state.at.step] : []);
      }
      const definition = this.getDefinition(state.definitionId);
      const step = restingStep(definition, state) as ServiceStep | WaitStep;
      const events: EngineEvent[] = [];
      if (options.fault) {
        if (variables) Object.assign(state.variables, variables);
        const { code, message } = options.fault;
        await this.runner.raiseFault(definition, state, { code, message }, events);
      } else {
        const target =
          options.transition === undefined ? step.next : step.transitions?.[options.transition];
        if (target === undefined) {
          const known = Object.keys(step.transitions ?? {});
          throw new TransitionUnknownError(instanceId, waitState, options.transition, known);
        }
        if (variables) Object.assign(state.variables, variables);
        await this.runner.enter(definition, state, target, events);
      }
      recordApplied(state, options.signalId);
      await this.commit(state, events);
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
   * Merges `variables` into the instance's variables without moving it; also allowed on ended
   * instances, so late results are kept. @throws InstanceNotFoundError, VariablesInvalidError
   */
  async setVariables(instanceId: string, variables: Variables): Promise<void> {
    this.assertRunning();
    const update = toJsonVariables(variables);
    await this.mutex.run(instanceId, async () => {
      const state = await this.require(instanceId);
      Object.assign(state.variables, update);
      await this.commit(state, []);
    });
  }

  /** The service or wait step the instance can be signalled at, or none. @throws InstanceNotFoundError */
  async getWaitStates(instanceId: string): Promise<readonly string[]> {
    return waitStatesOf(await this.require(instanceId));
  }

  /** A copy of the instance's state as last persisted. @throws InstanceNotFoundError */
  async getInstance(instanceId: string): Promise<InstanceSnapshot> {
    return toSnapshot(await this.require(instanceId));
  }

  /**
   * Resolves with the final snapshot once the instance ends, at once when it already has.
   * @throws InstanceNotFoundError; EngineStoppedError when the engine stops first.
   */
  whenEnded(instanceId: string): Promise<InstanceSnapshot> {
    return this.lifecycle.whenEnded(instanceId);
  }

  /** Registers a listener; its exceptions are reported to `onError` and never stop the engine. */
  subscribe(listener: EngineEventListener): () => void {
    return this.events.subscribe(listener);
  }

  /**
   * Picks up every running instance in the state repository, e.g. after a process restart:
   * timers and SLAs are re-armed with the time left (and fire at once when overdue); instances
   * resting at a service or wait step get their `service-step-entered` (same activationId) or
   * `wait-state-entered` event again, so the coordinator can resume them. Instances that cannot
   * be restored are reported to `onError` and skipped.
   */
  async restore(): Promise<void> {
    this.assertRunning();
    await this.lifecycle.restoreAll((id) => this.restoreInstance(id));
  }

  /**
   * Clears every timer and emits no event from now on; resolves once operations already in
   * progress have persisted their state. Pending `whenEnded` calls reject with EngineStoppedError.
   */
  async stop(): Promise<void> {
    await this.lifecycle.stop(() => this.timers.clearAll());
  }

  private async restoreInstance(instanceId: string): Promise<void> {
    this.cache.delete(instanceId);
    const state = await this.read(instanceId);
    if (!state || state.status !== 'running' || !state.at) return;
    const definition = this.getDefinition(state.definitionId);
    restingStep(definition, state);
    const now = this.clock();
    type Overdue = { due: number; apply: (events: EngineEvent[]) => Promise<boolean> };
    const overdue: Overdue[] = [];
    const slaDueAt = state.slaDueAt;
    if (slaDueAt !== undefined && slaDueAt <= now) {
      overdue.push({
        due: slaDueAt,
        apply: (events) => this.runner.slaExpired(definition, state, slaDueAt, events),
      });
    }
    const at = state.at;
    if (at.kind === 'timer' && at.dueAt !== undefined && at.dueAt <= now) {
      overdue.push({
        due: at.dueAt,
        apply: (events) => this.runner.timerFired(definition, state, at.activationId, events),
      });
    }
    // Overdue timers fire in due order, each persisted with its events as if it had fired live.
    let moved = false;
    for (const { apply } of overdue.sort((a, b) => a.due - b.due)) {
      const events: EngineEvent[] = [];
      if (await apply(events)) {
        await this.commit(state, events);
        moved = true;
      }
    }
    if (moved) return;
    this.syncTimers(state);
    if (at.kind === 'service') {
      this.events.emit([
        {
          type: 'service-step-entered',
          instanceId,
          step: at.step,
          activationId: at.activationId,
          resumed: true,
        },
      ]);
    } else if (at.kind === 'wait') {
      this.events.emit([
        {
          type: 'wait-state-entered',
          instanceId,
          waitState: at.step,
          activationId: at.activationId,
        },
      ]);
    }
  }

  /** A timer step's timer fired: leave via `next` if the instance still rests at that entry. */
  private async fireStepTimer(instanceId: string, activationId: string): Promise<void> {
    await this.mutex.run(instanceId, async () => {
      if (this.lifecycle.stopped) return;
      const state = await this.read(instanceId);
      if (!state) return;
      const events: EngineEvent[] = [];
      if (
        await this.runner.timerFired(
          this.getDefinition(state.definitionId),
          state,
          activationId,
          events,
        )
      ) {
        await this.commit(state, events);
      }
    });
  }

  /** The SLA timer fired: raise PSI_SLA_EXCEEDED if the instance still runs under that SLA. */
  private async fireSla(instanceId: string, slaDueAt: number): Promise<void> {
    await this.mutex.run(instanceId, async () => {
      if (this.lifecycle.stopped) return;
      const state = await this.read(instanceId);
      if (!state) return;
      const events: EngineEvent[] = [];
      if (
        await this.runner.slaExpired(
          this.getDefinition(state.definitionId),
          state,
          slaDueAt,
          events,
        )
      ) {
        await this.commit(state, events);
      }
    });
  }

  /** Persists, then re-arms timers, emits the events and settles `whenEnded` callers. */
  private async commit(state: InstanceState, events: readonly EngineEvent[]): Promise<void> {
    const json = serializeInstanceState(state);
    await this.repository.save(this.name, state.instanceId, json, PluginLifecycle.index(state));
    this.cache.set(state.instanceId, json);
    this.syncTimers(state);
    this.lifecycle.publish(state, events);
  }

  private syncTimers(state: InstanceState): void {
    const { instanceId, at, slaDueAt } = state;
    const running = state.status === 'running' && !this.lifecycle.stopped;
    const activationId = at?.activationId ?? '';
    this.timers.sync(
      instanceId,
      'step',
      running && at?.kind === 'timer' && at.dueAt !== undefined
        ? {
            key: activationId,
            dueAt: at.dueAt,
            fire: () => this.events.background(this.fireStepTimer(instanceId, activationId)),
          }
        : undefined,
    );
    this.timers.sync(
      instanceId,
      'sla',
      running && slaDueAt !== undefined
        ? {
            key: String(slaDueAt),
            dueAt: slaDueAt,
            fire: () => this.events.background(this.fireSla(instanceId, slaDueAt)),
          }
        : undefined,
    );
  }

  private async read(instanceId: string): Promise<InstanceState | undefined> {
    const json = await this.cache.readThrough(instanceId, () =>
      this.repository.load(this.name, instanceId),
    );
    return json === undefined ? undefined : parseInstanceState(instanceId, json);
  }

  private require(instanceId: string): Promise<InstanceState> {
    return this.lifecycle.require(instanceId);
  }

  private assertRunning(): void {
    this.lifecycle.assertRunning();
  }
}
