// Over 400 lines: the facade wires every flow and holds the public API (receive, invoke, thaw,
// dead letters, audit, lifecycle); the flows themselves live beside it.
import { AdapterRunner } from '../adapter/adapter-runner';
import { randomUUID } from 'node:crypto';
import { CoordinatorClosedError, PsiError } from '../errors';
import type { EngineEvent, ProcessEngine } from '../spi/process-engine';
import type {
  InboundMessage,
  InboundSink,
  ReceiveOutcome,
  RejectedInbound,
  Transport,
} from '../spi/transport';
import { listInvocations, type Invocation } from '../records/invocations';
import { instancesWithParkedAnswers } from '../records/parked-answers';
import type { PsiStore } from '../store/psi-store';
import { AdapterCatalog } from './adapter-catalog';
import { AuditLog, type TraceEvent } from '../records/audit-log';
import {
  compileCoordinatorOptions,
  type CompiledCoordinatorOptions,
  type CoordinatorOptions,
} from './coordinator-options';
import { emptyStats, type CoordinatorStats } from './coordinator-stats';
import { ClaimRecovery } from '../cluster/claim-recovery';
import { Correlator } from '../correlation/correlator';
import { describe } from './describe-error';
import { DeadLetterQueue, type DeadLetter, type DeadLetterFilter } from '../records/dead-letters';
import { replayReport, type ReplayOutcome } from '../correlation/dead-letter-replay';
import { DeadlineScheduler } from '../timeouts/deadline-scheduler';
import { checkInboundMessage } from '../correlation/inbound-limits';
import { Invoker, type InvocationResult } from '../invocation/invoker';
import { KeyedMutex } from './keyed-mutex';
import { LeaseKeeper } from '../cluster/lease-keeper';
import { NodeLeases } from '../cluster/node-leases';
import { ProcessGuard } from '../records/process-guard';
import { RejectedInboundKeeper } from '../correlation/rejected-inbound';
import { RetentionSweeper, type RetentionReport } from './retention';
import { Recovery } from '../cluster/recovery';
import { TaskTracker } from './task-tracker';
import { FlowLog } from './flow-log';
import { NodeSignals } from './flow-signals';
import { WaitStateExpectations } from '../correlation/wait-state-expectations';
import type { OperatorContext } from '../operations/operation-types';
import type { PsiOperations } from '../operations/psi-operations';
import { APPLICATION, OperatorDesk } from './operator-actions';
import { Instrumentation } from '../observability/instrumentation';
import { StoreGauges } from '../observability/store-gauges';

/** How often a node looks for dead nodes' work where the store can tell (PostgreSQL). */
const LIVENESS_SWEEP_MS = 1_000;

/** An invocation as operators see it. */
export interface InvocationInfo {
  id: string;
  instanceId: string;
  step: string;
  adapter: string;
  service: string;
  correlationKey: string;
  status: Invocation['status'];
  lastError?: unknown;
  /** Epoch ms (the coordinator's clock). */
  createdAt: number;
  updatedAt: number;
}

/**
 * The runtime: runs adapters when the engine reaches their steps, dispatches through transports,
 * correlates answers (deliver or park), fires deadlines, and signals the engine.
 *
 * ```ts
 * const coordinator = await Coordinator.create({ store, engine, registry, transports, adapters });
 * await coordinator.start();
 * ```
 */
export class Coordinator implements InboundSink {
  readonly guard: ProcessGuard;
  private readonly options: CompiledCoordinatorOptions;
  private readonly catalog: AdapterCatalog;
  private readonly audit: AuditLog;
  private readonly deadLetterQueue: DeadLetterQueue;
  private readonly rejected: RejectedInboundKeeper;
  private readonly retention: RetentionSweeper;
  private readonly correlator: Correlator;
  private readonly invoker: Invoker;
  private readonly scheduler: DeadlineScheduler;
  private readonly waitStates: WaitStateExpectations;
  private readonly leases: NodeLeases;
  private readonly leaseKeeper: LeaseKeeper;
  private readonly recovery: Recovery;
  // Engine events raised before start(), handled in order once it runs.
  private earlyEvents: EngineEvent[] | undefined = [];
  private readonly tasks: TaskTracker;
  private readonly desk: OperatorDesk;
  private readonly instanceMutex: KeyedMutex;
  private readonly signals: NodeSignals;
  private readonly counters: CoordinatorStats = emptyStats();
  private readonly instrumentation: Instrumentation;
  private readonly gauges: StoreGauges;
  private readonly transports: ReadonlyMap<string, Transport>;
  private unsubscribe: (() => void) | undefined;
  private unlisten: (() => void) | undefined;
  // Tells this coordinator's readiness notices from the others' (nodeIds may repeat in a process).
  private readonly origin = randomUUID();
  private state: 'created' | 'started' | 'closed' = 'created';

  private constructor(options: CoordinatorOptions) {
    this.options = compileCoordinatorOptions(options);
    const { store, engine, registry, clock, container, logger } = this.options;
    const catalog = new AdapterCatalog(this.options.adapters, container, this.options.waitBindings);
    this.catalog = catalog;
    const runner = new AdapterRunner(container);
    this.transports = new Map(this.options.transports.map((t) => [t.name, t]));
    this.instrumentation = new Instrumentation(this.options.observability, this.counters, clock);
    this.gauges = new StoreGauges(this.options.observability, store, clock);
    const flowLog = new FlowLog(logger);
    const onTrace = this.options.onTrace;
    this.audit = new AuditLog(store, clock, (event) => {
      flowLog.step(event);
      onTrace?.(event);
    });
    this.deadLetterQueue = new DeadLetterQueue(store, clock);
    this.retention = new RetentionSweeper(
      store,
      this.options.retention,
      clock,
      this.options.timers,
    );
    this.rejected = new RejectedInboundKeeper({
      audit: this.audit,
      deadLetters: this.deadLetterQueue,
      limits: this.options.limits,
      catalog,
      instrumentation: this.instrumentation,
      clock,
    });
    this.tasks = new TaskTracker((error, what) =>
      logger.error({ err: describe(error) }, `${what} failed`),
    );
    // Queued callers count for idle({ exceptBackoff }): work behind a backoff waits on the clock.
    this.instanceMutex = new KeyedMutex(this.tasks.queuedOnMutex);
    const instanceMutex = this.instanceMutex;
    const signals = new NodeSignals({
      engine,
      readiness: this.options.readiness,
      origin: this.origin,
      tasks: this.tasks,
      timers: this.options.timers,
    });
    this.signals = signals;
    this.leases = new NodeLeases(store, this.options.nodeId, this.options.leaseMs, clock);
    this.correlator = new Correlator({
      options: this.options,
      audit: this.audit,
      engine,
      registry,
      catalog,
      runner,
      deadLetters: this.deadLetterQueue,
      instanceMutex,
      leases: this.leases,
      instrumentation: this.instrumentation,
      signals,
    });
    this.waitStates = new WaitStateExpectations({
      options: this.options,
      audit: this.audit,
      engine,
      catalog,
      signals,
    });
    this.scheduler = new DeadlineScheduler({
      options: this.options,
      audit: this.audit,
      correlator: this.correlator,
      deadLetters: this.deadLetterQueue,
      instanceMutex,
      tasks: this.tasks,
      instrumentation: this.instrumentation,
      signals,
    });
    signals.wake(this.scheduler, this.correlator);
    this.invoker = new Invoker({
      options: this.options,
      audit: this.audit,
      engine,
      registry,
      transports: this.transports,
      catalog,
      runner,
      invocationMutex: new KeyedMutex(this.tasks.queuedOnMutex),
      instanceMutex,
      leases: this.leases,
      instrumentation: this.instrumentation,
      signals,
    });
    const recovery = new Recovery({
      store,
      nodeId: this.options.nodeId,
      logger,
      leases: this.leases,
      liveness: this.options.liveness,
      invoker: this.invoker,
      claims: new ClaimRecovery({
        engine,
        delivery: this.correlator.delivery,
        leases: this.leases,
        instanceMutex,
      }),
      correlator: this.correlator,
      tasks: this.tasks,
    });
    this.recovery = recovery;
    this.leaseKeeper = new LeaseKeeper({
      leases: this.leases,
      recovery,
      tasks: this.tasks,
      // Where the store tells live nodes from dead ones, look every second; else leases decide.
      sweepMs: this.options.liveness.seesOtherNodes
        ? LIVENESS_SWEEP_MS
        : Math.floor(this.options.leaseMs / 3),
      timers: this.options.timers,
    });
    // Listening from now on: events an engine raises before start() (a restore() called first)
    // are kept and handled at start, so restore and start may come in either order.
    this.unsubscribe = engine.subscribe((event) => this.onEngineEvent(event));
    this.guard = new ProcessGuard(store, clock);
    this.desk = new OperatorDesk(this.options, {
      audit: this.audit,
      deadLetters: this.deadLetterQueue,
      correlator: this.correlator,
      invoker: this.invoker,
      tasks: this.tasks,
      receive: (message) => this.receive(message),
      signals,
    });
  }

  /** Builds a coordinator; validates every adapter class (AdapterDefinitionError). Call `start()` next. */
  static async create(options: CoordinatorOptions): Promise<Coordinator> {
    return new Coordinator(options);
  }

  get store(): PsiStore {
    return this.options.store;
  }

  get engine(): ProcessEngine {
    return this.options.engine;
  }

  /**
   * Starts transports, listens to the engine, fires deadlines that passed while nothing ran, and
   * re-runs invocations a stopped process left half done (committed requests are re-sent once).
   */
  async start(): Promise<void> {
    if (this.state === 'closed') throw new CoordinatorClosedError();
    if (this.state === 'started') return;
    this.state = 'started';
    this.signals.setRunning(true);
    // Live before any claim or lease of this process exists: another node that saw this node's
    // work without its liveness lock would take it for a dead node's.
    const ownIdIsFree = await this.options.liveness.join(this.options.nodeId);
    for (const transport of this.transports.values()) await transport.start(this);
    this.unlisten = this.options.readiness.subscribe(
      this.origin,
      (instanceId) =>
        this.tasks.track(`release for ${instanceId} (another node's notice)`, () =>
          this.releaseIfWaitingHere(instanceId),
        ),
      () => this.tasks.track('release after missed notices', () => this.releaseParkedHere()),
    );
    this.scheduler.start();
    this.gauges.start();
    const early = this.earlyEvents ?? [];
    this.earlyEvents = undefined;
    for (const event of early) void this.onEngineEvent(event);
    // What stopped nodes (this one's earlier process included) and crashes left: taken over in
    // the background, so answers are delivered meanwhile; then, every sweep, dead nodes' work.
    this.tasks.track('recovery at start', () => this.recovery.atStart(ownIdIsFree));
    this.leaseKeeper.start();
    this.retention.start((sweep) => this.tasks.track('retention sweep', sweep));
    if (this.options.operations.run) this.desk.runner.start();
  }

  /**
   * The operations API on this coordinator's store: lists, timelines, overview and operator
   * actions (run by this node's runner at once, or by any node's). See {@link PsiOperations}.
   */
  get operations(): PsiOperations {
    return this.desk.api;
  }

  /** Runs the adapter of a service step. Engine bindings call it through `service-step-entered`. */
  invoke(event: {
    instanceId: string;
    step: string;
    activationId: string;
    /** The entry was raised again after a restore (see `ServiceStepEnteredEvent.resumed`). */
    resumed?: boolean;
  }): Promise<InvocationResult> {
    this.assertOpen();
    return this.invoker.invoke(event);
  }

  /**
   * Hands an answer to PSI: delivered, parked, ignored as duplicate, or dead-lettered. A message
   * over the `limits` (or with a control character in an id) is refused before anything is
   * stored: InboundMessageError / MessageLimitError (`isMessageRejection` is true for both).
   */
  async receive(message: InboundMessage): Promise<ReceiveOutcome> {
    this.assertOpen();
    checkInboundMessage(message, this.options.limits, this.catalog);
    return this.correlator.receive(message);
  }

  /**
   * Keeps a transport record that `receive` refused (`isMessageRejection`) or that could not be
   * read as a `rejected` dead letter holding the record as received, once per record id. Throws
   * only when the store cannot take it; the transport retries then.
   */
  reject(record: RejectedInbound): Promise<ReceiveOutcome> {
    this.assertOpen();
    return this.rejected.keep(record);
  }

  /** Re-runs a frozen invocation; `by` is recorded in the `thawed` audit entry. */
  thaw(invocationId: string, by: OperatorContext = APPLICATION): Promise<InvocationResult> {
    this.assertOpen();
    return this.invoker.thaw(invocationId, by);
  }

  async invocation(invocationId: string): Promise<InvocationInfo> {
    return toInfo(await this.invoker.get(invocationId));
  }

  async invocations(
    filter: { instanceId?: string; status?: Invocation['status'] } = {},
  ): Promise<InvocationInfo[]> {
    const rows = await this.store.transaction((tx) => listInvocations(tx, filter));
    return rows.map(toInfo);
  }

  /**
   * Dead letters: list, replay (correlate again) and discard; `by` (who and why) goes into the
   * `replayed` / `discarded` audit entry. The operations API (`operations`) has more filters,
   * paging and bulk actions.
   */
  readonly deadLetters = {
    list: (filter?: DeadLetterFilter): Promise<DeadLetter[]> => this.deadLetterQueue.list(filter),
    get: (id: string): Promise<DeadLetter> => this.deadLetterQueue.get(id),
    /**
     * Correlates the letter again (recorded as an operator action of `by`); a letter replayed
     * before reports what that replay became, a discarded one `discarded`.
     */
    replay: async (id: string, by: OperatorContext = APPLICATION): Promise<ReplayOutcome> => {
      this.assertOpen();
      const result = await this.desk.actions.replay(id, { by });
      return result.replayed ? { ...result.outcome, replayOf: id } : replayReport(result.letter);
    },
    discard: async (id: string, by: OperatorContext = APPLICATION): Promise<void> => {
      await this.deadLetterQueue.get(id);
      await this.desk.storeActions.discard(id, { by });
    },
  };

  /**
   * The audit trail of an instance, oldest first. Read after what this process is doing for the
   * instance (a delivery, a timeout) is recorded, so a trail read once the engine reports the
   * end holds the step that ended it.
   */
  auditTrail(instanceId: string): Promise<TraceEvent[]> {
    return this.instanceMutex.run(instanceId, () => this.audit.forInstance(instanceId));
  }

  /**
   * Deletes now what is past its retention (coordinator option `retention`): resolved dead
   * letters, audit entries, dedupe ids, and open dead letters only when configured. The
   * coordinator also does this at start and every `retention.intervalMs`.
   */
  sweepRetention(): Promise<RetentionReport> {
    this.assertOpen();
    return this.retention.sweep();
  }

  /** Counters of this process (received, duplicates, delivered, parked, dead-lettered, ...). */
  stats(): CoordinatorStats {
    return { ...this.counters };
  }

  /**
   * Resolves once no background work (deliveries, releases, timers in flight) is running. With
   * `exceptBackoff`, work that only waits for its retry backoff (for the clock) counts as idle:
   * a test clock moves on from there.
   */
  idle(options: { exceptBackoff?: boolean } = {}): Promise<void> {
    return options.exceptBackoff ? this.tasks.quiet() : this.tasks.idle();
  }

  /** Stops listening, stops transports and timers, and waits for work in flight. The store stays open. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    // The action in progress finishes with the runtime still up; a bulk run goes to another node.
    await this.desk.runner.stop();
    this.state = 'closed';
    this.signals.setRunning(false);
    this.unsubscribe?.();
    this.earlyEvents = undefined;
    this.unlisten?.();
    this.scheduler.stop();
    this.gauges.stop();
    this.leaseKeeper.stop();
    this.retention.stop();
    // Retries waiting for their backoff end now (and any reaching one later, at once).
    this.signals.close();
    for (const transport of this.transports.values()) await transport.stop();
    await this.tasks.idle();
    await this.options.liveness.leave(this.options.nodeId).catch(() => undefined);
    // What is still running (a retry waiting for its backoff) is free for the next node at once.
    if (this.store.dataSource.isInitialized) {
      await this.leases
        .releaseAll()
        .catch((error: unknown) =>
          this.options.logger.warn(
            { err: describe(error), nodeId: this.options.nodeId },
            'Could not release the leases of this node',
          ),
        );
    }
  }

  // Returns the work the event started, so an engine can pace itself on it (restore()); not an
  // invocation's, which may wait long for a retry or a slow service.
  private onEngineEvent(event: EngineEvent): Promise<void> | undefined {
    if (this.earlyEvents) {
      this.earlyEvents.push(event);
      return undefined;
    }
    if (this.state !== 'started') return undefined;
    switch (event.type) {
      case 'service-step-entered':
        this.tasks.track(`invocation of step ${event.step}`, () =>
          this.invoker.invoke(event).catch((error: unknown) => {
            // Input and definition errors already reached the engine as a fault; keep them quiet.
            if (!PsiError.is(error)) throw error;
          }),
        );
        return undefined;
      case 'wait-state-entered':
        return this.tasks.run(`release for ${event.instanceId}`, async () => {
          await this.waitStates.entered(event);
          await this.correlator.release(event.instanceId);
        });
      case 'wait-state-left':
        return this.tasks.run(`wait state left by ${event.instanceId}`, () =>
          this.waitStates.left(event),
        );
      case 'instance-ended':
        return this.tasks.run(`end of ${event.instanceId}`, () =>
          this.correlator.instanceEnded(event.instanceId),
        );
    }
  }

  /** Another node published `instanceId`: release it if this node's engine has it waiting. */
  private async releaseIfWaitingHere(instanceId: string): Promise<void> {
    if (this.state !== 'started') return;
    const states = await this.signals.waitStatesHere(instanceId);
    if (states && states.length > 0) await this.correlator.release(instanceId);
  }

  /**
   * Notices may have been lost (the listening connection dropped): release every instance with
   * parked answers that this node's engine has waiting, as the lost notices would have.
   */
  private async releaseParkedHere(): Promise<void> {
    const instanceIds = await this.options.store.transaction(instancesWithParkedAnswers);
    for (const instanceId of instanceIds) await this.releaseIfWaitingHere(instanceId);
  }

  private assertOpen(): void {
    if (this.state === 'closed') throw new CoordinatorClosedError();
  }
}

function toInfo(row: Invocation): InvocationInfo {
  return {
    id: row.id,
    instanceId: row.instanceId,
    step: row.step,
    adapter: row.adapter,
    service: row.service,
    correlationKey: row.correlationKey,
    status: row.status,
    lastError: row.lastError ? (JSON.parse(row.lastError) as unknown) : undefined,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
