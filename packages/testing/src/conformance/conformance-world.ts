import type { InProcessService } from '@psi/adapters';
import type {
  EngineEvent,
  InstanceEndedEvent,
  ProcessEngine,
  ReceiveOutcome,
  Variables,
} from '@psi/core';
import { PsiTestEnvironment } from '../psi-test-environment';
import type { TestProblem } from '../environment-options';
import type { TestEngineFactory } from '../test-engines';
import {
  conformanceAdapters,
  conformanceWaitBindings,
  ConformanceServices,
  type ConformanceProcess,
} from './conformance-adapters';

/** What a plugin provides to run the suite. */
export interface EngineConformanceHarness {
  /**
   * Builds the plugin with the suite's standard processes deployed, on the parts it is handed
   * (PSI's store, the test clock: give it as the plugin's timers and clock). `referenceEngine`,
   * `bpmnEngine` and `xstateEngine` (`@psi/testing/xstate`) build the shipped ones.
   */
  engine: TestEngineFactory;
  /** The plugin's definition id of each standard process. */
  processes: Readonly<Record<ConformanceProcess, string>>;
  /** How long (real ms) the suite waits for the plugin to do something. @default 15_000 */
  patienceMs?: number;
}

/** One call a test service received. */
export interface ConformanceServiceCall {
  service: string;
  operation: string;
  payload: Record<string, unknown>;
  correlationKey: string;
}

/** The suite's test services: they record calls, and the supplier can be held. */
export class ConformanceServiceDoubles {
  readonly calls: ConformanceServiceCall[] = [];
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

  /** Whether a call is held now (PSI is busy with it until it is released). */
  get holding(): boolean {
    return this.held !== undefined;
  }

  /** The correlation key of the last call of `operation` whose payload has `field` = `value`. */
  keyOf(operation: string, field: string, value: unknown): string {
    const call = this.calls
      .filter((c) => c.operation === operation && c.payload[field] === value)
      .at(-1);
    if (!call) throw new Error(`no ${operation} call with ${field} = ${String(value)} recorded`);
    return call.correlationKey;
  }

  /** The operations of every service, by service name. */
  operations(): Record<string, InProcessService> {
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

/**
 * The plugin under the coordinator, as one process of an application runs them: a
 * `PsiTestEnvironment` (throwaway SQLite store, in-process services, test clock) with the suite's
 * adapters and services, and the few moves the cases make in the suite's terms.
 */
export class ConformanceWorld {
  private constructor(
    readonly env: PsiTestEnvironment,
    private readonly harness: EngineConformanceHarness,
    private readonly services: ConformanceServiceDoubles,
  ) {}

  static async open(
    harness: EngineConformanceHarness,
    services: ConformanceServiceDoubles,
  ): Promise<ConformanceWorld> {
    const env = await PsiTestEnvironment.create({
      engine: harness.engine,
      adapters: [...conformanceAdapters],
      waitBindings: [...conformanceWaitBindings],
      services: services.operations(),
      patienceMs: harness.patienceMs ?? 15_000,
    });
    return new ConformanceWorld(env, harness, services);
  }

  get engine(): ProcessEngine {
    return this.env.engine;
  }

  /** Every event the plugin emitted, in order (over restarts). */
  get events(): readonly EngineEvent[] {
    return this.env.events;
  }

  /** What went wrong in the background (coordinator errors, engine failures); stays empty. */
  get errors(): TestProblem[] {
    return this.env.problems.filter((p) => p.level !== 'warn');
  }

  /** Starts the plugin's definition of `process`; resolves with the instance id. */
  start(process: ConformanceProcess, variables: Variables): Promise<string> {
    return this.env.engine.start(this.harness.processes[process], variables);
  }

  /** Hands an answer to the coordinator, as a transport would. */
  answer(event: string, correlationKey: string, payload: unknown): Promise<ReceiveOutcome> {
    return this.env.answer({ event, correlationKey, payload, sender: 'conformance' });
  }

  /** Hands a notice to the coordinator, as a transport would: no correlation key, a business key. */
  notice(notice: { ref: string; by: string }, messageId?: string): Promise<ReceiveOutcome> {
    return this.env.answer({
      event: 'notice',
      payload: notice,
      sender: 'conformance',
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
      this.env.events.find(
        (e): e is InstanceEndedEvent => e.type === 'instance-ended' && e.instanceId === instanceId,
      ),
    );
  }

  /** The kinds of the instance's audit trail, in order. */
  trail(instanceId: string): Promise<string[]> {
    return this.env.trail(instanceId);
  }

  /** Closes coordinator, plugin and store as an exiting process would, and opens them again. */
  async restart(): Promise<ConformanceWorld> {
    await this.env.restart();
    return this;
  }

  /** Resolves with `check`'s first value; fails naming `what` after the harness's patience. */
  async eventually<T>(
    what: string,
    check: () => T | undefined | Promise<T | undefined>,
  ): Promise<T> {
    if (!this.services.holding) return this.env.waitUntil(check, { what }) as Promise<T>;
    // A held call keeps PSI busy, so the environment would not settle: look without settling.
    const giveUpAt = Date.now() + (this.harness.patienceMs ?? 15_000);
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > giveUpAt) throw new Error(`Waited in vain until ${what}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
