import { InProcessTransport, type InProcessService } from '@psi/adapters';
import {
  Coordinator,
  type CoordinatorOptions,
  type DeadLetter,
  type DeadLetterReason,
  type EngineEvent,
  type ExpectationView,
  type InboundMessage,
  type InstanceTimeline,
  type InvocationInfo,
  type ParkedView,
  type PsiStore,
  type ReceiveOutcome,
  type SignalOptions,
  type TraceEvent,
  type Transport,
  type Variables,
} from '@psi/core';
import type { InstanceSnapshot } from '@psi/engines';
import { StaticRegistry, type ServiceEntry } from '@psi/registry';
import {
  AlreadyWaitingError,
  EnvironmentDisposedError,
  NoDeadlineError,
  TestOptionsError,
} from './errors';
import { ScriptedService, type ServiceCall } from './scripted-service';
import { TestClock } from './test-clock';
import type { TestEngine, TestEngineFactory } from './test-engines';
import { TestStoreLocation, type TestStoreOptions } from './test-store';
import { waitFor } from './wait-for';

const DAY_MS = 86_400_000;

/** How to build a {@link PsiTestEnvironment}. */
export interface PsiTestEnvironmentOptions {
  /** Adapter classes (`@ServiceAdapter`), as the coordinator's `adapters`. */
  adapters: CoordinatorOptions['adapters'];
  /** Wait binding classes (`@WaitBinding`). @default [] */
  waitBindings?: CoordinatorOptions['waitBindings'];
  /** The engine: `referenceEngine(defs)`, `xstateEngine(machines)`, `bpmnEngine(xml)` or your own. */
  engine: TestEngineFactory;
  /**
   * The services adapters call, by service name, hosted in-process: a {@link ScriptedService}
   * the test scripts, or any `{ operation: (payload, context) => reply }`. @default {}
   */
  services?: Record<string, ScriptedService | InProcessService>;
  /**
   * Registry entries beside the default one per service (`{ transport: 'in-process', address:
   * <name> }`): `retry`, `parkingTtlMs`, `timeoutMs`, or another transport. @default {}
   */
  coordinates?: Record<string, Partial<ServiceEntry>>;
  /** Where the state lives. @default a SQLite file in a new temp dir */
  store?: TestStoreOptions;
  /** Epoch ms the test clock starts at. @default the real time at creation */
  startAt?: number;
  /** Transports beside the in-process one (their services: give `coordinates`). @default [] */
  transports?: Transport[];
  /**
   * Other coordinator options. The environment's defaults suit one coordinator on a test clock:
   * `deadlinePollMs: Infinity` (no polling), `nodeId: 'psi-test'` with a liveness that sees no
   * other node (no take-over sweeps), `leaseMs` and `retention.intervalMs` a year (no
   * renewals or sweeps while days pass; `coordinator.sweepRetention()` sweeps), and retry
   * backoff without jitter (`random: () => 1`: the policy's nominal delays).
   */
  coordinator?: Partial<
    Omit<
      CoordinatorOptions,
      'store' | 'engine' | 'registry' | 'transports' | 'adapters' | 'waitBindings' | 'clock'
    >
  >;
  /** How long (real ms) `waitUntil` and its kin wait for work outside PSI. @default 5_000 */
  patienceMs?: number;
}

/** An answer as a test hands it to PSI; `call` fills in its correlation key and sender. */
export interface TestAnswer {
  event: string;
  payload?: unknown;
  /** The call this answers: its correlation key, sent as `in-process:<service>`. */
  call?: ServiceCall;
  correlationKey?: string;
  businessKey?: Record<string, unknown>;
  /** @default derived from the content (the same answer twice is a duplicate) */
  messageId?: string;
  /** @default the call's service, else `test` */
  sender?: string;
}

/** What the environment saw go wrong in the background: coordinator errors, engine failures. */
export interface TestProblem {
  level: 'error' | 'warn' | 'engine' | 'clock';
  message: string;
  detail?: unknown;
}

interface Running {
  store: PsiStore;
  engine: TestEngine;
  coordinator: Coordinator;
  unsubscribe: () => void;
}

/**
 * A whole PSI in a test: a coordinator on a throwaway store, the engine of your choice, the
 * services your adapters call (scripted in the test), and a {@link TestClock} that PSI and the
 * engine both obey. Every method that hands PSI something (start, answer, signal, clock moves)
 * resolves once PSI has nothing left to do, so assertions need no waiting. Call `dispose()` at
 * the end (afterEach): it closes everything and deletes the store.
 */
export class PsiTestEnvironment {
  /** The clock PSI and the engine run on: `advance(ms)`, `runUntilIdle()`. */
  readonly clock: TestClock;
  /** Background errors and warnings; a test usually expects it to stay empty. */
  readonly problems: TestProblem[] = [];
  /** Every audit event, as committed (over restarts). */
  readonly traces: TraceEvent[] = [];
  /** Every engine event (over restarts). */
  readonly events: EngineEvent[] = [];
  private running: Running | undefined;
  private activity = 0;
  private readonly patienceMs: number;

  private constructor(
    private readonly options: PsiTestEnvironmentOptions,
    private readonly location: TestStoreLocation,
  ) {
    this.clock = new TestClock(options.startAt);
    this.clock.attach({
      settle: () => this.settle(),
      onError: (error) =>
        this.problems.push({ level: 'clock', message: String(error), detail: error }),
    });
    this.patienceMs = options.patienceMs ?? 5_000;
  }

  /** Opens the store, builds engine and coordinator, starts them; dispose() undoes it all. */
  static async create(options: PsiTestEnvironmentOptions): Promise<PsiTestEnvironment> {
    if (typeof options.engine !== 'function') {
      throw new TestOptionsError(
        'engine must be an engine factory: referenceEngine(definitions), xstateEngine(machines), bpmnEngine(xml) or (parts) => yourEngine.',
      );
    }
    const env = new PsiTestEnvironment(options, TestStoreLocation.of(options.store));
    try {
      await env.open();
    } catch (error) {
      await env.location.remove().catch(() => undefined);
      throw error;
    }
    return env;
  }

  get coordinator(): Coordinator {
    return this.current().coordinator;
  }

  get engine(): TestEngine {
    return this.current().engine;
  }

  get store(): PsiStore {
    return this.current().store;
  }

  /** The scripted service of that name (NoServiceCallError-free: TestOptionsError if unknown). */
  service(name: string): ScriptedService {
    const service = this.options.services?.[name];
    if (!(service instanceof ScriptedService)) {
      throw new TestOptionsError(
        `No ScriptedService named "${name}" in the environment's services.`,
      );
    }
    return service;
  }

  /** Starts an instance; resolves with its id once PSI has done what the start caused. */
  async start(definitionId: string, variables: Variables = {}): Promise<string> {
    const instanceId = await this.engine.start(definitionId, variables);
    await this.clock.runUntilIdle();
    return instanceId;
  }

  /** Signals the engine (a manual step, a user task), then lets PSI settle. */
  async signal(instanceId: string, waitState: string, options?: SignalOptions): Promise<void> {
    await this.engine.signal(instanceId, waitState, options);
    await this.clock.runUntilIdle();
  }

  /** Re-runs a frozen invocation (as an operator's thaw), then lets PSI settle. */
  async thaw(invocationId: string): Promise<void> {
    await this.coordinator.thaw(invocationId);
    await this.clock.runUntilIdle();
  }

  /** Hands PSI an answer now, as a transport would; resolves with what became of it. */
  async answer(answer: TestAnswer): Promise<ReceiveOutcome> {
    const outcome = await this.coordinator.receive(toMessage(answer));
    await this.clock.runUntilIdle();
    return outcome;
  }

  /** The same answer twice (one message id): the second is a `duplicate`. */
  async answerTwice(answer: TestAnswer): Promise<[ReceiveOutcome, ReceiveOutcome]> {
    const message = toMessage(answer);
    const first = await this.coordinator.receive(message);
    await this.clock.runUntilIdle();
    const second = await this.coordinator.receive(message);
    await this.clock.runUntilIdle();
    return [first, second];
  }

  /** Answers one after another in the order given (e.g. not the order of the calls). */
  async answerInOrder(answers: readonly TestAnswer[]): Promise<ReceiveOutcome[]> {
    const outcomes: ReceiveOutcome[] = [];
    for (const answer of answers) outcomes.push(await this.answer(answer));
    return outcomes;
  }

  /**
   * An answer that arrives before the instance waits at `waitState` (it is parked, then
   * delivered when the instance gets there). AlreadyWaitingError if it already waits there.
   */
  async answerBeforeWaiting(
    instanceId: string,
    waitState: string,
    answer: TestAnswer,
  ): Promise<ReceiveOutcome> {
    if ((await this.engine.getWaitStates(instanceId)).includes(waitState))
      throw new AlreadyWaitingError(instanceId, waitState);
    return this.answer(answer);
  }

  /**
   * The answer against its deadline: the clock moves to the deadline of the instance's open
   * expectation of `answer.event` plus `offsetMs`, and the answer arrives then. At `offsetMs: 0`
   * both are due on the same tick: `first` says which PSI sees first (the other loses the race:
   * a timeout that finds the answer delivered does nothing; an answer after the timeout is a
   * `late` dead letter). NoDeadlineError when there is no such expectation.
   */
  async answerAtDeadline(
    instanceId: string,
    answer: TestAnswer,
    options: { offsetMs?: number; first?: 'answer' | 'timeout' } = {},
  ): Promise<ReceiveOutcome> {
    const deadline = (await this.expectations(instanceId)).find(
      (e) => e.event === answer.event && e.status === 'open' && e.deadline !== undefined,
    )?.deadline;
    if (deadline === undefined) throw new NoDeadlineError(instanceId, answer.event);
    const at = deadline + (options.offsetMs ?? 0);
    await this.clock.advanceTo(at, { fireAtTarget: options.first === 'timeout' });
    return this.answer(answer);
  }

  /** Resolves once the instance can be signalled at `waitState` (all its wait states). */
  whenWaitingAt(
    instanceId: string,
    waitState: string,
    options: { patienceMs?: number } = {},
  ): Promise<readonly string[]> {
    return this.waitUntil(
      async () => {
        const states = await this.engine.getWaitStates(instanceId);
        return states.includes(waitState) ? states : undefined;
      },
      { what: `instance ${instanceId} waits at "${waitState}"`, ...options },
    );
  }

  /** Resolves with the instance's final snapshot once it ended (completed, failed, aborted). */
  async whenEnded(
    instanceId: string,
    options: { patienceMs?: number } = {},
  ): Promise<InstanceSnapshot> {
    await this.waitUntil(
      () => this.events.some((e) => e.type === 'instance-ended' && e.instanceId === instanceId),
      { what: `instance ${instanceId} ends`, ...options },
    );
    return this.engine.getInstance(instanceId);
  }

  /**
   * Resolves with `predicate`'s first truthy value. Lets PSI settle before each look; between
   * looks it waits for the next engine or audit event (work outside PSI, e.g. a service that
   * answers by itself), at most `patienceMs` of real time: then WaitTimedOutError naming `what`.
   * It never moves the clock.
   */
  waitUntil<T>(
    predicate: () => T | Promise<T>,
    options: { what?: string; patienceMs?: number } = {},
  ): Promise<NonNullable<T>> {
    return waitFor(predicate, {
      what: options.what ?? 'the predicate holds',
      patienceMs: options.patienceMs ?? this.patienceMs,
      settle: () => this.clock.runUntilIdle(),
      activity: () => this.activity,
    });
  }

  /** The instance's variables as the engine holds them. */
  variables(instanceId: string): Promise<Variables> {
    return this.engine.getVariables(instanceId);
  }

  /** Dead letters (of one instance, of one reason), oldest first. */
  async deadLetters(
    filter: { instanceId?: string; reason?: DeadLetterReason } = {},
  ): Promise<DeadLetter[]> {
    return this.coordinator.deadLetters.list(filter);
  }

  /** Answers parked (for one instance), oldest first. */
  async parked(instanceId?: string): Promise<ParkedView[]> {
    const page = await this.coordinator.operations.parked(instanceId ? { instanceId } : {}, {
      order: 'oldest',
      limit: 1_000,
    });
    return page.items;
  }

  /** What the instance waits (and waited) for, oldest first. */
  async expectations(instanceId: string): Promise<ExpectationView[]> {
    const page = await this.coordinator.operations.expectations(
      { instanceId },
      { order: 'oldest', limit: 1_000 },
    );
    return page.items;
  }

  /** The instance's invocations, oldest first. */
  invocations(instanceId: string): Promise<InvocationInfo[]> {
    return this.coordinator.invocations({ instanceId });
  }

  /** Everything about the instance in time order (the operations API's timeline). */
  timeline(instanceId: string): Promise<InstanceTimeline> {
    return this.coordinator.operations.timeline(instanceId);
  }

  /** The kinds of the instance's audit trail, in order: `['invoked', 'sent', 'parked', ...]`. */
  async trail(instanceId: string): Promise<string[]> {
    return (await this.coordinator.auditTrail(instanceId)).map((e) => e.kind);
  }

  /**
   * Closes coordinator, engine and store as a process that stops would, and opens them again on
   * the same store and clock: what survives a restart survives this.
   */
  async restart(): Promise<void> {
    await this.close();
    await this.open();
  }

  /** Closes everything and deletes the throwaway store. Safe to call twice. */
  async dispose(): Promise<void> {
    if (!this.running) return;
    try {
      await this.close();
    } finally {
      this.clock.clearAll();
      await this.location.remove();
    }
  }

  private async open(): Promise<void> {
    const { options } = this;
    const store = await this.location.open();
    try {
      const engine = options.engine({
        stateRepository: store.engineStates(),
        clock: this.clock,
        onError: (error) =>
          this.problems.push({ level: 'engine', message: String(error), detail: error }),
      });
      const unsubscribe = engine.subscribe((event) => {
        this.events.push(event);
        this.activity++;
      });
      const coordinator = await Coordinator.create(this.coordinatorOptions(store, engine));
      this.running = { store, engine, coordinator, unsubscribe };
      await coordinator.start();
      await engine.restore();
      await this.clock.runUntilIdle();
    } catch (error) {
      await this.close().catch(() => undefined);
      await store.close().catch(() => undefined);
      throw error;
    }
  }

  private coordinatorOptions(store: PsiStore, engine: TestEngine): CoordinatorOptions {
    const { options } = this;
    const transport = new InProcessTransport();
    const entries: Record<string, ServiceEntry> = {};
    for (const [name, service] of Object.entries(options.services ?? {})) {
      transport.register(name, service instanceof ScriptedService ? service.operations : service);
      entries[name] = { transport: transport.name, address: name };
    }
    for (const [name, entry] of Object.entries(options.coordinates ?? {})) {
      entries[name] = {
        ...(entries[name] ?? { transport: transport.name, address: name }),
        ...entry,
      };
    }
    const extra = options.coordinator ?? {};
    return {
      deadlinePollMs: Number.POSITIVE_INFINITY,
      // One node, under one id over restarts (it takes its own work back at start); no
      // take-over sweeps for other nodes every second while the clock skips days.
      nodeId: 'psi-test',
      liveness: singleNodeLiveness(),
      leaseMs: 365 * DAY_MS,
      random: () => 1,
      logger: {
        warn: (message, detail) => this.problems.push({ level: 'warn', message, detail }),
        error: (message, detail) => this.problems.push({ level: 'error', message, detail }),
      },
      ...extra,
      retention: { intervalMs: 365 * DAY_MS, ...extra.retention },
      onTrace: (event) => {
        this.traces.push(event);
        this.activity++;
        extra.onTrace?.(event);
      },
      store,
      engine,
      clock: this.clock,
      registry: new StaticRegistry(entries),
      transports: [transport, ...(options.transports ?? [])],
      adapters: options.adapters,
      waitBindings: options.waitBindings,
    };
  }

  private async close(): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.running = undefined;
    try {
      await running.coordinator.close();
      await running.engine.stop();
    } finally {
      running.unsubscribe();
      await running.store.close();
    }
  }

  /** PSI and the engine have nothing left to do (but wait on the clock). */
  private async settle(): Promise<void> {
    const running = this.running;
    if (!running) return;
    for (;;) {
      const before = this.activity;
      await running.coordinator.idle({ exceptBackoff: true });
      // One turn of the event loop: I/O that finished meanwhile gets to raise its events.
      await new Promise((resolve) => setImmediate(resolve));
      if (this.activity === before) return;
    }
  }

  private current(): Running {
    if (!this.running) throw new EnvironmentDisposedError();
    return this.running;
  }
}

/** The liveness of a store only this environment uses: its own node, nobody else's. */
function singleNodeLiveness(): NonNullable<CoordinatorOptions['liveness']> {
  const joined = new Set<string>();
  return {
    seesOtherNodes: false,
    join: async (nodeId) => Boolean(joined.add(nodeId)),
    holds: (nodeId) => joined.has(nodeId),
    leave: async (nodeId) => void joined.delete(nodeId),
    deadAmong: async () => undefined,
    retry: async () => undefined,
    close: async () => joined.clear(),
  };
}

function toMessage(answer: TestAnswer): InboundMessage {
  const service = answer.call?.service;
  return {
    event: answer.event,
    payload: answer.payload ?? {},
    correlationKey: answer.correlationKey ?? answer.call?.correlationKey,
    businessKey: answer.businessKey,
    messageId: answer.messageId,
    source: service ? `in-process:${service}` : 'test',
    sender: answer.sender ?? (service ? `in-process:${service}` : 'test'),
  };
}
