import {
  Coordinator,
  PsiStore,
  type EngineEvent,
  type EngineStateRepository,
  type InstanceEndedEvent,
  type ProcessEngine,
  type ReceiveOutcome,
  type ServiceRegistry,
  type Transport,
  type Variables,
} from '@psi/core';
import {
  conformanceAdapters,
  conformanceWaitBindings,
  ConformanceServices,
  type ConformanceProcess,
} from './conformance-adapters';

/** A plugin under test, built by the harness on PSI's store. */
export interface ConformanceEngine {
  /** The PEAL face the coordinator uses. */
  readonly engine: ProcessEngine;
  /** Starts the plugin's definition of a standard process; resolves with the instance id. */
  start(process: ConformanceProcess, variables: Variables): Promise<string>;
  /** Picks up the instances in the store after a restart and raises their events again. */
  restore(): Promise<void>;
  /** Stops the plugin: no events, no timers; the store keeps everything. */
  stop(): Promise<void>;
}

/**
 * One operation of a service the suite hosts: return a value for a synchronous reply, or
 * `undefined` (or a promise of it) for "accepted, the answer comes later".
 */
export type ConformanceOperation = (payload: unknown, call: { correlationKey: string }) => unknown;

/** A hosted service: operation name → implementation. */
export type ConformanceOperations = Readonly<Record<string, ConformanceOperation>>;

/**
 * The transport and registry plugins the suite wires the coordinator with, supplied by the caller
 * so that `@psi/engines` depends on nothing but `@psi/core` (e.g. `InProcessTransport` from
 * `@psi/adapters` and `StaticRegistry` from `@psi/registry`).
 */
export interface ConformanceWiring {
  /** One transport that reaches each of `services` at the address of the same name. */
  createTransport(services: Readonly<Record<string, ConformanceOperations>>): Transport;
  /** A registry resolving each service of `entries` to its transport and address. */
  createRegistry(
    entries: Readonly<Record<string, { transport: string; address: string }>>,
  ): ServiceRegistry;
}

/** What a plugin provides to run the suite. */
export interface EngineConformanceHarness {
  /**
   * Builds the plugin on `repository` (PSI's store: `store.engineStates()`), with the three
   * standard processes deployed under the names the harness's `start` uses. Do not restore: the
   * suite calls `restore()` once the coordinator listens.
   */
  createEngine(repository: EngineStateRepository): ConformanceEngine | Promise<ConformanceEngine>;
  wiring: ConformanceWiring;
  /** How long the suite waits for something to happen before failing. @default 15_000 */
  patienceMs?: number;
}

/** One call a test service received. */
export interface ServiceCall {
  service: string;
  operation: string;
  payload: Record<string, unknown>;
  correlationKey: string;
}

/** The suite's test services: they record calls, and the supplier can be held. */
export class ConformanceServiceDoubles {
  readonly calls: ServiceCall[] = [];
  private held: { promise: Promise<void>; release: () => void } | undefined;

  /** Holds the supplier's `placeOrder` (the instance stays at its service step) until released. */
  holdSupplier(): () => void {
    let release!: () => void;
    const promise = new Promise<void>((resolve) => (release = resolve));
    const held = { promise, release };
    this.held = held;
    return () => {
      if (this.held === held) this.held = undefined;
      held.release();
    };
  }

  /** The correlation key of the last call of `operation` whose payload has `field` = `value`. */
  keyOf(operation: string, field: string, value: unknown): string {
    const call = this.calls
      .filter((c) => c.operation === operation && c.payload[field] === value)
      .at(-1);
    if (!call) throw new Error(`no ${operation} call with ${field} = ${String(value)} recorded`);
    return call.correlationKey;
  }

  /** The operations of every service, by address (= service name). */
  operations(): Record<string, ConformanceOperations> {
    const record =
      (service: string, operation: string, reply: (payload: Record<string, unknown>) => unknown) =>
      (payload: unknown, call: { correlationKey: string }): unknown => {
        const body = (payload ?? {}) as Record<string, unknown>;
        this.calls.push({ service, operation, payload: body, correlationKey: call.correlationKey });
        return reply(body);
      };
    return {
      [ConformanceServices.supplier]: {
        placeOrder: record(ConformanceServices.supplier, 'placeOrder', () =>
          this.held?.promise.then(() => undefined),
        ),
      },
      [ConformanceServices.erp]: {
        book: record(ConformanceServices.erp, 'book', (order) => ({
          bookingId: `B-${String(order.orderNumber)}`,
        })),
      },
      [ConformanceServices.pager]: {
        page: record(ConformanceServices.pager, 'page', () => undefined),
      },
      [ConformanceServices.courier]: {
        dispatch: record(ConformanceServices.courier, 'dispatch', () => undefined),
      },
    };
  }
}

/** Store + plugin + Coordinator on one SQLite file, as one process of an application would run. */
export class ConformanceWorld {
  /** Every event the plugin emitted, in order. */
  readonly events: EngineEvent[] = [];

  private constructor(
    readonly store: PsiStore,
    readonly plugin: ConformanceEngine,
    readonly coordinator: Coordinator,
    /** What the coordinator logged as errors (background failures); stays empty in every test. */
    readonly errors: ReadonlyArray<{ message: string; detail?: unknown }>,
    private readonly patienceMs: number,
  ) {
    plugin.engine.subscribe((event) => this.events.push(event));
  }

  static async open(
    file: string,
    harness: EngineConformanceHarness,
    services: ConformanceServiceDoubles,
  ): Promise<ConformanceWorld> {
    const store = await PsiStore.open({ sqlitePath: file });
    try {
      const plugin = await harness.createEngine(store.engineStates());
      const transport = harness.wiring.createTransport(services.operations());
      const registry = harness.wiring.createRegistry(
        Object.fromEntries(
          Object.values(ConformanceServices).map((service) => [
            service,
            { transport: transport.name, address: service },
          ]),
        ),
      );
      const errors: Array<{ message: string; detail?: unknown }> = [];
      const coordinator = await Coordinator.create({
        store,
        engine: plugin.engine,
        registry,
        transports: [transport],
        adapters: [...conformanceAdapters],
        waitBindings: [...conformanceWaitBindings],
        logger: {
          warn: () => undefined,
          error: (message, detail) => errors.push({ message, detail }),
        },
      });
      const world = new ConformanceWorld(
        store,
        plugin,
        coordinator,
        errors,
        harness.patienceMs ?? 15_000,
      );
      await coordinator.start();
      await plugin.restore();
      return world;
    } catch (error) {
      await store.close();
      throw error;
    }
  }

  get engine(): ProcessEngine {
    return this.plugin.engine;
  }

  /** Closes coordinator, plugin and store, as a process that exits would. */
  async close(): Promise<void> {
    await this.coordinator.close();
    await this.plugin.stop();
    await this.store.close();
  }

  /** Hands an answer to the coordinator, as a transport would. */
  answer(event: string, correlationKey: string, payload: unknown): Promise<ReceiveOutcome> {
    return this.coordinator.receive({ event, correlationKey, payload, source: 'conformance' });
  }

  /** Hands a notice to the coordinator, as a transport would: no correlation key, a business key. */
  notice(notice: { ref: string; by: string }, messageId?: string): Promise<ReceiveOutcome> {
    return this.coordinator.receive({
      event: 'notice',
      payload: notice,
      source: 'conformance',
      ...(messageId === undefined ? {} : { messageId }),
    });
  }

  /** Waits until the instance can be signalled at `state`; returns all its wait states. */
  at(instanceId: string, state: string): Promise<readonly string[]> {
    return this.eventually(`instance ${instanceId} waits at "${state}"`, async () => {
      const states = await this.engine.getWaitStates(instanceId);
      return states.includes(state) ? states : undefined;
    });
  }

  /** Waits for the plugin's `instance-ended` event of the instance. */
  ended(instanceId: string): Promise<InstanceEndedEvent> {
    return this.eventually(`instance ${instanceId} ends`, () =>
      this.events.find(
        (e): e is InstanceEndedEvent => e.type === 'instance-ended' && e.instanceId === instanceId,
      ),
    );
  }

  /** The kinds of the instance's audit trail, in order. */
  async trail(instanceId: string): Promise<string[]> {
    return (await this.coordinator.auditTrail(instanceId)).map((e) => e.kind);
  }

  /** Polls `check` every 10 ms until it returns a value; fails naming `what` after the patience. */
  async eventually<T>(
    what: string,
    check: () => T | undefined | Promise<T | undefined>,
  ): Promise<T> {
    const deadline = Date.now() + this.patienceMs;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) {
        throw new Error(`Waited ${this.patienceMs} ms in vain until ${what}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}
