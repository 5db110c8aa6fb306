import {
  systemClock,
  type Coordinator,
  type EngineEvent,
  type InboundMessage,
  type InstanceEndedEvent,
  type PsiStore,
  type ReceiveOutcome,
} from '@psi/core';
import type { InProcessService } from '@psi/adapters';
import { BpmnEnginePlugin, type BpmnEnginePluginOptions } from '@psi/engines';
import { PsiTestEnvironment } from '@psi/testing';
import { testStoreOptionsFor, type StoreLocation } from '../../foundation/test-stores';

/** What a BPMN world runs: documents, adapters and wait bindings, in-process services. */
export interface BpmnWorldSetup {
  definitions: string[];
  adapters?: Array<new (...args: never[]) => object>;
  waitBindings?: Array<new (...args: never[]) => object>;
  /** In-process services by name (each reachable at the address of the same name). */
  services?: Record<string, InProcessService>;
  plugin?: Omit<BpmnEnginePluginOptions, 'definitions' | 'stateRepository'>;
}

/**
 * PSI on a real store with the bpmn-engine plugin, as one process of an application runs it: a
 * `PsiTestEnvironment` on real time (BPMN timer events follow it) on a kept store location.
 * `restart()` closes all of it and opens it again on the same store.
 */
export class BpmnWorld {
  private constructor(
    readonly env: PsiTestEnvironment,
    readonly location: StoreLocation,
    /** The plugin the environment built last (a restart builds a new one). */
    private readonly built: { plugin?: BpmnEnginePlugin },
  ) {}

  static async open(location: StoreLocation, setup: BpmnWorldSetup): Promise<BpmnWorld> {
    const built: { plugin?: BpmnEnginePlugin } = {};
    const env = await PsiTestEnvironment.create({
      store: testStoreOptionsFor(location),
      clock: systemClock,
      engine: ({ stateRepository, onError }) => {
        built.plugin = new BpmnEnginePlugin({
          ...setup.plugin,
          definitions: setup.definitions,
          stateRepository,
          onError,
        });
        return built.plugin;
      },
      adapters: setup.adapters ?? [],
      waitBindings: setup.waitBindings ?? [],
      services: setup.services,
      patienceMs: 15_000,
    });
    return new BpmnWorld(env, location, built);
  }

  /** Every event the plugin emitted (over restarts). */
  get events(): readonly EngineEvent[] {
    return this.env.events;
  }

  /** Background failures the plugin and the coordinator reported. */
  get errors(): unknown[] {
    return this.env.problems.filter((p) => p.level !== 'warn');
  }

  get plugin(): BpmnEnginePlugin {
    return this.built.plugin as BpmnEnginePlugin;
  }

  get store(): PsiStore {
    return this.env.store;
  }

  get coordinator(): Coordinator {
    return this.env.coordinator;
  }

  /** Closes everything (as an exiting process would) and opens it again on the same store. */
  async restart(): Promise<BpmnWorld> {
    await this.env.restart();
    return this;
  }

  /** Closes everything; the store (a kept location) stays. */
  close(): Promise<void> {
    return this.env.dispose();
  }

  receive(message: InboundMessage): Promise<ReceiveOutcome> {
    return this.coordinator.receive({ source: 'test', ...message });
  }

  /** Waits until the instance can be signalled at `state`. */
  at(instanceId: string, state: string): Promise<readonly string[]> {
    return this.env.whenWaitingAt(instanceId, state);
  }

  /** Waits until what the entry at `waitState` awaits is recorded (its `awaiting` audit entry). */
  async awaiting(instanceId: string, waitState: string, count = 1): Promise<void> {
    await this.env.waitUntil(
      async () =>
        (await this.coordinator.auditTrail(instanceId)).filter(
          (e) => e.kind === 'awaiting' && e.detail?.waitState === waitState && !e.detail?.left,
        ).length >= count,
      { what: `"${waitState}" of ${instanceId} records what it awaits` },
    );
  }

  ended(instanceId: string): Promise<InstanceEndedEvent> {
    return this.env.waitUntil(
      () =>
        this.events.find(
          (e): e is InstanceEndedEvent =>
            e.type === 'instance-ended' && e.instanceId === instanceId,
        ),
      { what: `instance ${instanceId} ends` },
    );
  }
}

/** Polls `check` every 10 ms until it returns a value; fails naming `what` after `patienceMs`. */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  patienceMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + patienceMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Waited ${patienceMs} ms in vain until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
