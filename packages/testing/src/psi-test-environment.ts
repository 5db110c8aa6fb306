// Just over 400 lines: the environment's public face (start, answer helpers, readers, restart,
// dispose) is one class by design, as Temporal's; its wiring, options, clock, services and waits
// are files of their own.
import {
  Coordinator,
  type DeadLetter,
  type DeadLetterReason,
  type EngineEvent,
  type ExpectationView,
  type InstanceTimeline,
  type InvocationInfo,
  type ParkedView,
  type PsiClock,
  type PsiStore,
  type ReceiveOutcome,
  type SignalOptions,
  type TraceEvent,
  type Variables,
} from '@psi/core';
import type { InstanceSnapshot } from '@psi/engines';
import { environmentCoordinatorOptions, toMessage } from './environment-wiring';
import type { PsiTestEnvironmentOptions, TestAnswer, TestProblem } from './environment-options';
import {
  AlreadyWaitingError,
  EnvironmentDisposedError,
  NoDeadlineError,
  SettleTimedOutError,
  TestOptionsError,
} from './errors';
import { ScriptedService } from './scripted-service';
import { TestClock } from './test-clock';
import type { TestEngine } from './test-engines';
import { TestStoreLocation } from './test-store';
import { waitFor } from './wait-for';

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
  private readonly testClock: TestClock | undefined;
  private readonly psiClock: PsiClock;
  /** Background errors and warnings; a test usually expects it to stay empty. */
  readonly problems: TestProblem[] = [];
  /** Every audit event, as committed (over restarts). */
  readonly traces: TraceEvent[] = [];
  /** Every engine event (over restarts). */
  readonly events: EngineEvent[] = [];
  private running: Running | undefined;
  private activity = 0;
  private readonly patienceMs: number;
  private readonly stuckAfterMs: number;

  private constructor(
    private readonly options: PsiTestEnvironmentOptions,
    private readonly location: TestStoreLocation,
  ) {
    if (options.clock) {
      this.psiClock = options.clock;
    } else {
      this.testClock = new TestClock(options.startAt);
      this.testClock.attach({
        settle: () => this.settle(),
        onError: (error) =>
          this.problems.push({ level: 'clock', message: String(error), detail: error }),
      });
      this.psiClock = this.testClock;
    }
    this.patienceMs = options.patienceMs ?? 5_000;
    this.stuckAfterMs = options.stuckAfterMs ?? 15_000;
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

  /** The clock PSI and the engine run on: `advance(ms)`, `runUntilIdle()`. */
  get clock(): TestClock {
    if (!this.testClock) {
      throw new TestOptionsError(
        'This environment runs on the clock given as its `clock` option; it has no TestClock.',
      );
    }
    return this.testClock;
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
    await this.settled();
    return instanceId;
  }

  /** Signals the engine (a manual step, a user task), then lets PSI settle. */
  async signal(instanceId: string, waitState: string, options?: SignalOptions): Promise<void> {
    await this.engine.signal(instanceId, waitState, options);
    await this.settled();
  }

  /** Re-runs a frozen invocation (as an operator's thaw), then lets PSI settle. */
  async thaw(invocationId: string): Promise<void> {
    await this.coordinator.thaw(invocationId);
    await this.settled();
  }

  /** Hands PSI an answer now, as a transport would; resolves with what became of it. */
  async answer(answer: TestAnswer): Promise<ReceiveOutcome> {
    const outcome = await this.coordinator.receive(toMessage(answer));
    await this.settled();
    return outcome;
  }

  /** The same answer twice (one message id): the second is a `duplicate`. */
  async answerTwice(answer: TestAnswer): Promise<[ReceiveOutcome, ReceiveOutcome]> {
    const message = toMessage(answer);
    const first = await this.coordinator.receive(message);
    await this.settled();
    const second = await this.coordinator.receive(message);
    await this.settled();
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
      settle: () => this.settled(),
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
      this.testClock?.clearAll();
      await this.location.remove();
    }
  }

  private async open(): Promise<void> {
    const { options } = this;
    const store = await this.location.open();
    try {
      const engine = options.engine({
        stateRepository: store.engineStates(),
        clock: this.psiClock,
        onError: (error) =>
          this.problems.push({ level: 'engine', message: String(error), detail: error }),
      });
      const unsubscribe = engine.subscribe((event) => {
        this.events.push(event);
        this.activity++;
      });
      const coordinator = await Coordinator.create(
        environmentCoordinatorOptions(options, {
          store,
          engine,
          testClock: this.testClock,
          clock: this.psiClock,
          problems: this.problems,
          onTrace: (event) => {
            this.traces.push(event);
            this.activity++;
          },
        }),
      );
      this.running = { store, engine, coordinator, unsubscribe };
      const restore = options.restore ?? true;
      if (restore === 'before-start') await engine.restore();
      await coordinator.start();
      if (restore === true) await engine.restore();
      await this.settled();
    } catch (error) {
      await this.close().catch(() => undefined);
      await store.close().catch(() => undefined);
      throw error;
    }
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

  /** Settles, firing what is due now on a TestClock. */
  private settled(): Promise<void> {
    return this.testClock ? this.testClock.runUntilIdle() : this.settle();
  }

  /** PSI and the engine have nothing left to do (but wait on the clock). */
  private async settle(): Promise<void> {
    const running = this.running;
    if (!running) return;
    for (;;) {
      const before = this.activity;
      await unlessStuck(
        running.coordinator.idle({ exceptBackoff: true }),
        () => this.activity,
        this.stuckAfterMs,
      );
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

/**
 * `work`, or SettleTimedOutError once `stuckMs` of real time passed with no new activity (no
 * engine or audit event): a service call or handler that never returns, which would otherwise
 * hang the test until the runner's own timeout with no word of why. Busy work (hundreds of
 * instances moving) raises events and is never cut short.
 */
async function unlessStuck(
  work: Promise<void>,
  activity: () => number,
  stuckMs: number,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    let seen = activity();
    const look = (): void => {
      const now = activity();
      if (now === seen) reject(new SettleTimedOutError(stuckMs));
      else {
        seen = now;
        timer = setTimeout(look, stuckMs);
      }
    };
    timer = setTimeout(look, stuckMs);
  });
  try {
    await Promise.race([work, stuck]);
  } finally {
    clearTimeout(timer);
  }
}
