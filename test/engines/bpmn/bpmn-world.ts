import {
  Coordinator,
  type EngineEvent,
  type InboundMessage,
  type InstanceEndedEvent,
  type PsiStore,
  type ReceiveOutcome,
} from '@psi/core';
import { InProcessTransport, type InProcessService } from '@psi/adapters';
import { BpmnEnginePlugin, type BpmnEnginePluginOptions } from '@psi/engines';
import { StaticRegistry } from '@psi/registry';
import { openTestStore, type StoreLocation } from '../../foundation/test-stores';

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
 * PSI on a real store with the bpmn-engine plugin, as one process of an application runs it:
 * store, plugin (instance state in the store), coordinator with the in-process transport.
 * `restart()` closes all of it and opens it again on the same store.
 */
export class BpmnWorld {
  readonly events: EngineEvent[] = [];

  private constructor(
    /** Background failures the plugin and the coordinator reported. */
    readonly errors: unknown[],
    readonly location: StoreLocation,
    readonly setup: BpmnWorldSetup,
    readonly store: PsiStore,
    readonly plugin: BpmnEnginePlugin,
    readonly coordinator: Coordinator,
  ) {
    plugin.subscribe((event) => this.events.push(event));
  }

  static async open(location: StoreLocation, setup: BpmnWorldSetup): Promise<BpmnWorld> {
    const store = await openTestStore(location);
    const errors: unknown[] = [];
    const plugin = new BpmnEnginePlugin({
      ...setup.plugin,
      definitions: setup.definitions,
      stateRepository: store.engineStates(),
      onError: (error) => errors.push(error),
    });
    const transport = new InProcessTransport();
    const entries: Record<string, { transport: string; address: string }> = {};
    for (const [name, service] of Object.entries(setup.services ?? {})) {
      transport.register(name, service);
      entries[name] = { transport: transport.name, address: name };
    }
    const coordinator = await Coordinator.create({
      store,
      engine: plugin,
      registry: new StaticRegistry(entries),
      transports: [transport],
      adapters: setup.adapters ?? [],
      waitBindings: setup.waitBindings ?? [],
      logger: {
        warn: () => undefined,
        error: (message, detail) => errors.push({ message, detail }),
      },
    });
    const world = new BpmnWorld(errors, location, setup, store, plugin, coordinator);
    await coordinator.start();
    await plugin.restore();
    return world;
  }

  /** Closes everything (as an exiting process would) and opens it again on the same store. */
  async restart(): Promise<BpmnWorld> {
    await this.close();
    return BpmnWorld.open(this.location, this.setup);
  }

  async close(): Promise<void> {
    await this.coordinator.close();
    await this.plugin.stop();
    await this.store.close();
  }

  receive(message: InboundMessage): Promise<ReceiveOutcome> {
    return this.coordinator.receive({ source: 'test', ...message });
  }

  /** Waits until the instance can be signalled at `state`. */
  at(instanceId: string, state: string): Promise<readonly string[]> {
    return eventually(`instance ${instanceId} waits at "${state}"`, async () => {
      const states = await this.plugin.getWaitStates(instanceId);
      return states.includes(state) ? states : undefined;
    });
  }

  /** Waits until what the entry at `waitState` awaits is recorded (its `awaiting` audit entry). */
  awaiting(instanceId: string, waitState: string, count = 1): Promise<void> {
    return eventually(`"${waitState}" of ${instanceId} records what it awaits`, async () => {
      const entries = (await this.coordinator.auditTrail(instanceId)).filter(
        (e) => e.kind === 'awaiting' && e.detail?.waitState === waitState && !e.detail?.left,
      );
      return entries.length >= count ? true : undefined;
    }).then(() => undefined);
  }

  ended(instanceId: string): Promise<InstanceEndedEvent> {
    return eventually(`instance ${instanceId} ends`, () =>
      this.events.find(
        (e): e is InstanceEndedEvent => e.type === 'instance-ended' && e.instanceId === instanceId,
      ),
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
