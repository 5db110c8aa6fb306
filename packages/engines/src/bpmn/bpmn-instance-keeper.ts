import type { KeyedMutex } from '@psi/core';
import { type EngineStateRepository } from '@psi/core';
import { EngineStateError } from '../errors';
import { globalEngineTimers } from '../shared/engine-timers';
import type { EngineEventHub } from '../shared/engine-event-hub';
import { InstanceTimers } from '../shared/instance-timers';
import { PluginLifecycle } from '../shared/plugin-lifecycle';
import type { BpmnDeployment, BpmnDeployments } from './bpmn-deployments';
import type { BpmnEngineConstructor, BpmnEngineOptions } from './bpmn-internals';
import {
  engineStateOf,
  parseBpmnInstanceRecord,
  type BpmnInstanceRecord,
} from './bpmn-instance-record';
import { LiveEngines, type LiveInstance } from './bpmn-live-engines';
import type { BpmnEnginePluginOptions, BpmnServiceTaskInfo } from './bpmn-plugin-options';
import { readProgress } from './bpmn-progress';
import { shiftTimers } from './bpmn-timers';

/** What the keeper shares with the plugin that holds it. */
export interface BpmnKeeperParts {
  /** The engine name records are saved under. */
  name: string;
  Engine: BpmnEngineConstructor;
  options: BpmnEnginePluginOptions;
  repository: EngineStateRepository;
  deployments: BpmnDeployments;
  mutex: KeyedMutex;
  events: EngineEventHub;
  clock: () => number;
  /** How far the real time is ahead of `clock` (0 on the default clock; see `shiftTimers`). */
  clockOffset: () => number;
  /** The plugin's lifecycle (built after the keeper, which it reads records through). */
  lifecycle: () => PluginLifecycle<BpmnInstanceRecord>;
}

/**
 * Keeps the bpmn-engine plugin's instances: their records in the state repository (saved after
 * every change, with a revision), their live Engines (reused while the revision matches, else
 * rebuilt from the record), the wake-up timers of their BPMN timers, and the step from a moved
 * Engine to the saved record and the events it raises (`settle`).
 */
export class BpmnInstanceKeeper {
  readonly engines: LiveEngines;
  private readonly wake: InstanceTimers<'bpmn'>;
  private readonly syncQueued = new Set<string>();

  constructor(private readonly parts: BpmnKeeperParts) {
    const { options } = parts;
    this.wake = new InstanceTimers(options.wakeTimers ?? globalEngineTimers, parts.clock);
    this.engines = new LiveEngines({
      Engine: parts.Engine,
      options: (instanceId) => this.engineOptions(instanceId),
      servesStep: (deployment, activityId) => this.servesStep(deployment, activityId),
      onActivity: (live) => this.scheduleSync(live),
      evict: (instanceId, drop) => parts.events.background(parts.mutex.run(instanceId, drop)),
      limits: {
        max: options.liveEngines?.max ?? DEFAULT_LIVE_ENGINES.max,
        idleMs: options.liveEngines?.idleMs ?? DEFAULT_LIVE_ENGINES.idleMs,
      },
      clockOffset: parts.clockOffset,
    });
  }

  /** Clears every wake-up timer. */
  clearTimers(): void {
    this.wake.clearAll();
  }

  private engineOptions(instanceId: string): BpmnEngineOptions {
    const { timers, services, scripts, expressions, settings, extensions } = this.parts.options;
    const options: BpmnEngineOptions = { name: instanceId };
    if (timers) options.timers = timers;
    if (services) options.services = services;
    if (scripts) options.scripts = scripts;
    if (expressions) options.expressions = expressions;
    if (settings) options.settings = settings;
    if (extensions) options.extensions = extensions as BpmnEngineOptions['extensions'];
    return options;
  }

  /** Whether PSI serves `activityId` of `deployment` as a service step (`serviceSteps`). */
  servesStep(deployment: BpmnDeployment, activityId: string): boolean {
    const decide = this.parts.options.serviceSteps;
    if (!decide) return true;
    const element = deployment.context.elements.activities.find((a) => a.id === activityId);
    const task: BpmnServiceTaskInfo = {
      definitionId: deployment.id,
      id: activityId,
      type: element?.type ?? 'bpmn:ServiceTask',
    };
    return decide(task);
  }

  /** The instance's live Engine, or one rebuilt from its record. */
  async liveFor(
    record: BpmnInstanceRecord,
  ): Promise<{ live: LiveInstance; deployment: BpmnDeployment }> {
    const deployment = this.parts.deployments.get(record.definitionId);
    const live = this.engines.current(record.instanceId, record.revision ?? 0);
    if (live) {
      live.operating = true;
      return { live, deployment };
    }
    if (record.engineState === undefined) {
      throw new EngineStateError(record.instanceId, 'it has no bpmn-engine state to recover');
    }
    return {
      live: await this.engines.recover(
        record.instanceId,
        deployment,
        shiftTimers(engineStateOf(record), this.parts.clockOffset()),
        record.revision ?? 0,
      ),
      deployment,
    };
  }

  private scheduleSync(live: LiveInstance): void {
    const instanceId = live.instanceId;
    if (live.operating || this.syncQueued.has(instanceId) || this.parts.lifecycle().stopped) {
      return;
    }
    this.syncQueued.add(instanceId);
    void this.parts.events.background(
      this.parts.mutex.run(instanceId, async () => {
        this.syncQueued.delete(instanceId);
        if (this.parts.lifecycle().stopped) return;
        const record = await this.read(instanceId);
        if (!record || record.status !== 'running') return;
        if (this.engines.current(instanceId, record.revision ?? 0) !== live) return;
        await this.settle(record, live, { force: false });
      }),
    );
  }

  /**
   * Reads the live engine into the record; saves it and emits the differences when anything
   * changed (always with `force`); keeps the Engine for the next signal unless the instance
   * ended or waits for a BPMN timer.
   */
  async settle(
    record: BpmnInstanceRecord,
    live: LiveInstance,
    options: { force: boolean },
  ): Promise<void> {
    const deployment = this.parts.deployments.get(record.definitionId);
    const fingerprint = () =>
      JSON.stringify([
        record.status,
        record.waits,
        record.variables,
        record.timerDueAt,
        record.history?.length,
      ]);
    const before = fingerprint();
    const progress = readProgress(
      record,
      live,
      deployment,
      (id) => this.servesStep(deployment, id),
      record.waits,
      this.parts.clock(),
      live.timerClockOffset ?? this.parts.clockOffset(),
    );
    // From here on, what the Engine does by itself is synced on its own.
    live.operating = false;
    if (progress.stalled) this.parts.events.report(progress.stalled);
    if (options.force || fingerprint() !== before) {
      if (record.status === 'running') record.engineState = JSON.stringify(progress.engineState);
      await this.save(record);
    }
    await this.engines.settled(
      live,
      record.revision ?? 0,
      record.status === 'running' && record.timerDueAt === undefined,
    );
    this.syncWake(record);
    this.parts.lifecycle().publish(record, progress.events);
  }

  async abort(record: BpmnInstanceRecord, fault: { code: string; message: string }): Promise<void> {
    record.status = 'aborted';
    record.fault = { code: fault.code, message: fault.message };
    record.waits = [];
    record.timers = false;
    delete record.timerDueAt;
    record.endedAt = this.parts.clock();
    delete record.engineState;
    await this.save(record);
    await this.engines.drop(record.instanceId);
    this.syncWake(record);
    this.parts
      .lifecycle()
      .publish(record, [
        { type: 'instance-ended', instanceId: record.instanceId, outcome: 'aborted' },
      ]);
  }

  async save(record: BpmnInstanceRecord): Promise<void> {
    record.revision = (record.revision ?? 0) + 1;
    await this.parts.repository.save(
      this.parts.name,
      record.instanceId,
      JSON.stringify(record),
      PluginLifecycle.index(record),
    );
  }

  /** Arms the wake-up for the instance's earliest BPMN timer, or clears it. */
  syncWake(record: BpmnInstanceRecord): void {
    const { instanceId, timerDueAt } = record;
    this.wake.sync(
      instanceId,
      'bpmn',
      record.status === 'running' && timerDueAt !== undefined && !this.parts.lifecycle().stopped
        ? {
            key: String(timerDueAt),
            dueAt: timerDueAt,
            fire: () => this.parts.events.background(this.fireTimer(instanceId, timerDueAt)),
          }
        : undefined,
    );
  }

  /**
   * A BPMN timer of a waiting instance fell due: rebuild its Engine, which fires the expired
   * timer while resuming, and persist where the instance went.
   */
  private async fireTimer(instanceId: string, dueAt: number): Promise<void> {
    await this.parts.mutex.run(instanceId, async () => {
      if (this.parts.lifecycle().stopped) return;
      const record = await this.read(instanceId);
      if (!record || record.status !== 'running' || record.timerDueAt !== dueAt) return;
      // Woken a little early (timer rounding): bpmn-engine would arm it again; wait instead.
      if (this.parts.clock() < dueAt) return this.syncWake(record);
      // A live Engine (kept while something of its own runs) fires its timers itself.
      if (this.engines.current(instanceId, record.revision ?? 0)) return;
      const { live } = await this.liveFor(record);
      await this.settle(record, live, { force: true });
    });
  }

  async read(instanceId: string): Promise<BpmnInstanceRecord | undefined> {
    const json = await this.parts.repository.load(this.parts.name, instanceId);
    return json === undefined ? undefined : parseBpmnInstanceRecord(instanceId, json);
  }
}

/** The defaults of `liveEngines`. */
export const DEFAULT_LIVE_ENGINES = { max: 256, idleMs: 2_000 };
