// Over 400 lines: the invoke flow (outbox, expectations, dispatch with retry, freeze, thaw)
// shares its collaborators and helpers. Issue 17 (a records layer under the flows) is where core
// gets split further.
import type { EntityManager } from 'typeorm';
import type { AdapterModel } from '../adapter/adapter-model';
import type { AdapterRunner } from '../adapter/adapter-runner';
import {
  AdapterInputError,
  AdapterNotFoundError,
  BusinessError,
  InvocationNotFoundError,
  InvocationNotFrozenError,
  PsiError,
  PsiErrorCode,
  StepEntryUndoneError,
  UnknownTransportError,
} from '../errors';
import type {
  ProcessEngine,
  ServiceStepEnteredEvent,
  SignalOptions,
  Variables,
} from '../spi/process-engine';
import type { ServiceCoordinates, ServiceRegistry } from '../spi/service-registry';
import type { Transport } from '../spi/transport';
import {
  completeWithBusinessError,
  failInvocation,
  freezeInvocation,
  invocationById,
  markCalled,
  thawInvocation,
  type Invocation,
} from '../records/invocations';
import {
  addOutboxEntry,
  markSendFailed,
  markSent,
  outboxEntry,
  resetFailedRequests,
  scheduleRetry,
  type OutboxEntry,
} from '../records/outbox';
import type { AdapterCatalog } from '../runtime/adapter-catalog';
import type { Audit, AuditLog } from '../records/audit-log';
import type { OperatorContext } from '../operations/operation-types';
import { backoffDelay } from './backoff';
import { businessKeyFromVariables } from '../runtime/business-key';
import type { CompiledCoordinatorOptions } from '../runtime/coordinator-options';
import { describe } from '../runtime/describe-error';
import { recordExpectations } from './expectation-recording';
import {
  cancelOpenOfInvocation,
  invocationHasExpectations,
  type Expectation,
} from '../records/expectations';
import type { KeyedMutex } from '../runtime/keyed-mutex';
import type { NodeLeases } from '../cluster/node-leases';
import type { Instrumentation } from '../observability/instrumentation';
import type { InvokeTrace } from '../observability/span-attributes';
import type { FlowSignals } from '../runtime/flow-signals';
import { PsiSignalIds } from '../runtime/signal-ids';
import { resignalFinishedStep } from './step-resignal';
import { InvocationCreation, InvocationExists } from './invocation-creation';
import { discardingCarriedStates, type EngineStateCarry } from '../store/engine-state-carry';
import { timeOrderedId } from '../store/time-ordered-id';

/** The entry into a service step that an outcome is signalled to. */
type StepActivation = Pick<Invocation, 'instanceId' | 'step' | 'activationId'>;

/** What became of an invocation, as `invoke` and `thaw` report it. */
export interface InvocationResult {
  invocationId: string;
  status: Invocation['status'];
  transition?: string;
  variables?: Variables;
  error?: unknown;
}

export interface InvokerDeps {
  options: CompiledCoordinatorOptions;
  audit: AuditLog;
  engine: ProcessEngine;
  registry: ServiceRegistry;
  transports: ReadonlyMap<string, Transport>;
  catalog: AdapterCatalog;
  runner: AdapterRunner;
  invocationMutex: KeyedMutex;
  /** The correlation flow's lock per instance: an outcome's signal and record hold it. */
  instanceMutex: KeyedMutex;
  /** Leases that make one node at a time run an invocation. */
  leases: NodeLeases;
  instrumentation: Instrumentation;
  /** Told after expectations commit: deadlines to arm, early answers to release. */
  signals: FlowSignals;
}

// Thrown through the adapter's callService to stop it once the invocation froze.
class InvocationFrozen extends Error {}
/** This node's lease lapsed and another node runs the invocation now: stand down. */
class InvocationTakenOver extends Error {}
/** A piece of a unit of work of an invocation's run. */
type UnitWork = (tx: EntityManager, write: Audit) => Promise<void>;
/** What an outcome's record returns when the invocation no longer runs under this node's lease. */
const TAKEN_OVER = Symbol('taken over');

/**
 * Runs adapters for service steps. The first request of an invocation commits together with its
 * expectations (transactional outbox); a re-run after a crash or thaw replays committed requests
 * by id instead of sending them as new ones.
 */
export class Invoker {
  private readonly creation: InvocationCreation;
  /**
   * Requests sent whose `sent` mark is not written yet, by invocation: it rides with the run's
   * next unit of work (the next request, the outcome) instead of a commit of its own.
   */
  private readonly unsentMarks = new Map<string, UnitWork[]>();

  constructor(private readonly deps: InvokerDeps) {
    this.creation = new InvocationCreation({
      audit: deps.audit,
      leases: deps.leases,
      clock: deps.options.clock,
    });
  }

  async invoke(event: Omit<ServiceStepEnteredEvent, 'type'>): Promise<InvocationResult> {
    const { audit, catalog } = this.deps;
    // Entered by a delivery's signal, the step's state commits with the delivery's record: the
    // invocation commits after it, never as a record of a state a crash could still undo. A
    // state that never committed (its move was undone) is not invoked at all.
    if (!(await audit.carriedStatesCommitted())) {
      throw new StepEntryUndoneError(event.instanceId, event.step);
    }
    if (!catalog.hasStep(event.step)) {
      const notFound = new AdapterNotFoundError(event.step);
      await this.fault(event, notFound);
      throw notFound;
    }
    const model = catalog.byStep(event.step);
    if (!event.resumed) {
      // Entered live: run at once; the row commits with the run's first unit (see
      // InvocationCreation), under this node's lease held in memory until then.
      const deferred = this.creation.deferred(event, model);
      this.deps.leases.adoptInvocation(deferred.id);
      try {
        return await this.run(deferred.id, deferred);
      } catch (error) {
        if (!(error instanceof InvocationExists)) throw error;
        // Another run recorded this entry first (a restore that did not say so, or another
        // node): nothing of this run was written; that row decides, as below.
      } finally {
        this.creation.settled(deferred.id);
      }
    }
    const { invocation, created } = await this.creation.createOrRead(event, model);
    if (invocation.status === 'running' && invocation.leaseOwner === this.deps.leases.nodeId) {
      this.deps.leases.adoptInvocation(invocation.id);
    }
    if (['waiting', 'completed', 'failed'].includes(invocation.status)) {
      // The engine rests at a step PSI already finished: the node that finished it died before
      // the engine took the signal. Signal the recorded outcome now.
      await resignalFinishedStep(this.deps.options, invocation);
      return { invocationId: invocation.id, status: invocation.status };
    }
    // Just created by this call: run it as it is, without reading back what it wrote.
    return this.run(invocation.id, created ? invocation : undefined);
  }

  /** Re-runs a frozen invocation; committed requests are replayed, failed ones re-sent. */
  async thaw(invocationId: string, by?: OperatorContext): Promise<InvocationResult> {
    await this.unfreeze(invocationId, by);
    return this.run(invocationId);
  }

  /**
   * Makes a frozen invocation `running` again under this node's lease, with the `thawed` audit
   * entry (who and why, when an operator asked); `run` does the rest. A node that dies before
   * running it leaves a lease that lapses: another node runs it then.
   */
  async unfreeze(invocationId: string, by?: OperatorContext): Promise<void> {
    await this.deps.audit.transaction(async (tx, write) => {
      const invocation = await invocationById(tx, invocationId);
      if (!invocation) throw new InvocationNotFoundError(invocationId);
      const lease = this.deps.leases.newInvocationLease();
      if (!(await thawInvocation(tx, invocationId, lease, this.deps.options.clock())))
        throw new InvocationNotFrozenError(invocationId, invocation.status);
      await resetFailedRequests(tx, invocationId);
      await write({
        kind: 'thawed',
        instanceId: invocation.instanceId,
        invocationId,
        detail: { ...by, lastError: invocation.lastError },
      });
    });
  }

  async get(invocationId: string): Promise<Invocation> {
    const row = await this.deps.audit.transaction((tx) => invocationById(tx, invocationId));
    if (!row) throw new InvocationNotFoundError(invocationId);
    return row;
  }

  /** Runs (or re-runs) a `running` invocation; one run per invocation at a time in this process. */
  run(invocationId: string, created?: Invocation): Promise<InvocationResult> {
    return this.deps.invocationMutex.run(invocationId, async () => {
      const invocation = created ?? (await this.get(invocationId));
      if (invocation.status !== 'running') return { invocationId, status: invocation.status };
      // Another node holds a live lease: it runs the invocation.
      if (!(await this.deps.leases.acquireInvocation(invocationId))) {
        return { invocationId, status: 'running' };
      }
      const model = this.deps.catalog.byStep(invocation.step);
      try {
        return await this.deps.instrumentation.invoke(invocation, (trace) =>
          this.execute(invocation, model, invocation === created, trace),
        );
      } catch (error) {
        if (error instanceof InvocationTakenOver) return { invocationId, status: 'running' };
        throw error;
      } finally {
        await this.writeUnsentMarks(invocation);
        this.deps.leases.releaseInvocation(invocationId);
      }
    });
  }

  private async execute(
    invocation: Invocation,
    model: AdapterModel,
    isNew: boolean,
    trace: InvokeTrace,
  ): Promise<InvocationResult> {
    const { engine, runner, audit } = this.deps;
    let coordinates: ServiceCoordinates;
    let variables: Variables;
    try {
      coordinates = await this.deps.registry.resolve(model.service);
      variables = await engine.getVariables(invocation.instanceId);
    } catch (error) {
      return this.freeze(invocation, null, error, trace);
    }
    let seq = 0;
    // A new invocation has no expectations or outbox entries yet; a re-run must look.
    let expectationsRecorded =
      !isNew && (await audit.transaction((tx) => invocationHasExpectations(tx, invocation.id)));
    const caller = {
      call: async (operation: string, payload: unknown): Promise<unknown> => {
        const requestId = `${invocation.id}:${++seq}`;
        const entry = await this.commitRequest(invocation, model, coordinates, variables, {
          requestId,
          operation,
          payload,
          recordExpectations: !expectationsRecorded,
          mayExist: !isNew,
          trace,
        });
        expectationsRecorded = true;
        if (entry.status === 'sent')
          return entry.reply === null ? undefined : JSON.parse(entry.reply);
        return this.dispatch(invocation, coordinates, entry, trace);
      },
    };

    let outcome;
    try {
      outcome = await runner.callService(model, variables, caller);
    } catch (error) {
      if (error instanceof InvocationFrozen)
        return { invocationId: invocation.id, status: 'frozen' };
      if (error instanceof InvocationTakenOver || error instanceof InvocationExists) throw error;
      // The coordinator closed while a retry waited: not the service's failure. The invocation
      // stays `running`, so the next coordinator on this store recovers it and retries.
      if (PsiError.is(error) && error.code === PsiErrorCode.CoordinatorClosed) {
        return { invocationId: invocation.id, status: 'running' };
      }
      if (error instanceof AdapterInputError) return this.fail(invocation, error);
      if (isBusinessError(error)) return this.businessOutcome(invocation, error);
      return this.freeze(invocation, null, error, trace);
    }

    if (!expectationsRecorded && model.handlers.size > 0) {
      const adopted = await this.unit(invocation, (tx) =>
        this.recordExpectationsOf(tx, invocation, model, coordinates, variables, trace),
      );
      this.afterExpectations(invocation, model, adopted);
    }
    const signal = { variables: outcome.variables, transition: outcome.transition };
    const status = await this.signalWithOutcome(invocation, signal, async (tx, write) => {
      const { leases, options } = this.deps;
      const called = await markCalled(tx, invocation.id, options.clock(), leases.nodeId);
      if (!called) return TAKEN_OVER;
      const { status: next, open } = called;
      await write({
        kind: 'completed',
        instanceId: invocation.instanceId,
        invocationId: invocation.id,
        detail: {
          step: invocation.step,
          transition: outcome.transition,
          variables: outcome.variables,
          expecting: open,
        },
      });
      return next;
    });
    return {
      invocationId: invocation.id,
      status,
      transition: outcome.transition,
      variables: outcome.variables,
    };
  }

  private async commitRequest(
    invocation: Invocation,
    model: AdapterModel,
    coordinates: ServiceCoordinates,
    variables: Variables,
    request: {
      requestId: string;
      operation: string;
      payload: unknown;
      recordExpectations: boolean;
      /** False for a new invocation: its requests cannot be in the outbox yet. */
      mayExist: boolean;
      /** The invoke span: stored with the entry and the expectations. */
      trace: InvokeTrace;
    },
  ): Promise<OutboxEntry> {
    let adopted = 0;
    const entry = await this.unit(invocation, async (tx) => {
      adopted = 0; // a unit may run twice (group commit re-runs a batch after a failure)
      const existing = request.mayExist ? await outboxEntry(tx, request.requestId) : null;
      if (existing) return existing;
      if (request.recordExpectations) {
        adopted = await this.recordExpectationsOf(
          tx,
          invocation,
          model,
          coordinates,
          variables,
          request.trace,
        );
      }
      const now = this.deps.options.clock();
      const created: OutboxEntry = {
        id: request.requestId,
        invocationId: invocation.id,
        service: model.service,
        operation: request.operation,
        payload: request.payload === undefined ? null : JSON.stringify(request.payload),
        correlationKey: invocation.correlationKey,
        status: 'pending',
        attempts: 0,
        nextAttemptAt: now,
        lastError: null,
        reply: null,
        createdAt: now,
        sentAt: null,
        ...request.trace.stored,
      };
      await addOutboxEntry(tx, created);
      return created;
    });
    if (request.recordExpectations) this.afterExpectations(invocation, model, adopted);
    return entry;
  }

  private async recordExpectationsOf(
    tx: EntityManager,
    invocation: Invocation,
    model: AdapterModel,
    coordinates: ServiceCoordinates,
    variables: Variables,
    trace: InvokeTrace,
  ): Promise<number> {
    const now = this.deps.options.clock();
    const expectations = [...model.handlers.values()].map((handler): Expectation => {
      return {
        id: timeOrderedId(),
        invocationId: invocation.id,
        instanceId: invocation.instanceId,
        adapter: model.name,
        event: handler.event,
        waitState: handler.waitState,
        correlationKey: handler.correlationKey === false ? null : invocation.correlationKey,
        businessKey: handler.businessKey
          ? businessKeyFromVariables(handler.businessKey, variables)
          : null,
        groupId: handler.group ?? null,
        deadline: handler.timeoutMs === undefined ? null : now + handler.timeoutMs,
        timeoutTransition: handler.timeoutTransition ?? null,
        timeoutPending: false,
        parkingTtlMs: coordinates.parkingTtlMs ?? null,
        status: 'open',
        createdAt: now,
        closedAt: null,
        claimedBy: null,
        claimExpiresAt: null,
        claimedMessage: null,
        deliveryId: null,
        activationId: null,
        repeats: false,
        ...trace.stored,
      };
    });
    return recordExpectations(tx, invocation.instanceId, expectations);
  }

  private afterExpectations(
    invocation: Invocation,
    model: AdapterModel,
    adoptedParked: number,
  ): void {
    const deadlines = [...model.handlers.values()]
      .map((h) => h.timeoutMs)
      .filter((ms): ms is number => ms !== undefined);
    const earliest =
      deadlines.length > 0 ? this.deps.options.clock() + Math.min(...deadlines) : null;
    if (earliest !== null) this.deps.signals.dueAt(earliest);
    if (adoptedParked > 0) this.deps.signals.adopted(invocation.instanceId);
  }

  private async dispatch(
    invocation: Invocation,
    coordinates: ServiceCoordinates,
    entry: OutboxEntry,
    trace: InvokeTrace,
  ): Promise<unknown> {
    const { options, instrumentation } = this.deps;
    const transport = this.deps.transports.get(coordinates.transport);
    if (!transport) {
      return this.freezeAndStop(
        invocation,
        entry,
        new UnknownTransportError(coordinates.transport, [...this.deps.transports.keys()]),
        trace,
      );
    }
    const policy = { ...options.defaultRetry, ...coordinates.retry };
    let attempts = entry.attempts;
    // A retry scheduled before a restart keeps its backoff: wait for the stored time, not less.
    // A timer may fire a millisecond before the clock reaches it, so sleep again until it has
    // (a few times at most: a clock that does not follow the timers must not hold it forever).
    if (attempts > 0) {
      let left = entry.nextAttemptAt - options.clock();
      for (let sleeps = 0; left > 0 && sleeps < 4; sleeps++) {
        await this.deps.signals.backoff(Math.max(1, Math.ceil(left)));
        left = entry.nextAttemptAt - options.clock();
      }
    }
    for (;;) {
      attempts++;
      try {
        const request = {
          requestId: entry.id,
          service: entry.service,
          operation: entry.operation,
          payload: entry.payload === null ? undefined : JSON.parse(entry.payload),
          correlationKey: entry.correlationKey,
          replyTo: coordinates.replyAddress,
          instanceId: invocation.instanceId,
        };
        const result = await instrumentation.send(
          trace,
          request,
          entry,
          transport.name,
          (traceHeaders) => transport.send({ ...request, traceHeaders }, coordinates),
        );
        const reply = result.kind === 'reply' ? result.payload : undefined;
        const sentAt = options.clock();
        const sentAttempts = attempts;
        // Written with the run's next unit (its next request, or its outcome), not a commit of
        // its own: a crash before it leaves the entry pending, and the re-run sends it again
        // under the same request id, as a crash between the send and its mark always could.
        this.markLater(invocation.id, async (tx, write) => {
          const replyText = reply === undefined ? null : JSON.stringify(reply);
          await markSent(tx, entry.id, sentAttempts, sentAt, replyText);
          write.afterCommit(() => instrumentation.sent(entry.service, transport.name));
          await write({
            kind: 'sent',
            instanceId: invocation.instanceId,
            invocationId: invocation.id,
            correlationKey: entry.correlationKey,
            detail: {
              requestId: entry.id,
              service: entry.service,
              operation: entry.operation,
              transport: transport.name,
              payload: entry.payload === null ? undefined : JSON.parse(entry.payload),
              answer: result.kind === 'reply' ? 'synchronous reply' : 'later',
            },
          });
        });
        return reply;
      } catch (error) {
        if (isBusinessError(error)) {
          const lastError = JSON.stringify(describe(error));
          await this.unit(invocation, (tx) => markSendFailed(tx, entry.id, attempts, lastError));
          throw error;
        }
        if (attempts >= policy.maxAttempts)
          return this.freezeAndStop(invocation, { ...entry, attempts }, error, trace);
        const delayMs = backoffDelay(policy, attempts, options.random);
        await this.unit(invocation, async (tx, write) => {
          const lastError = JSON.stringify(describe(error));
          write.afterCommit(() =>
            instrumentation.retried(
              trace,
              { requestId: entry.id, service: entry.service },
              attempts,
              delayMs,
              error,
            ),
          );
          await scheduleRetry(tx, entry.id, attempts, options.clock() + delayMs, lastError);
          await write({
            kind: 'retried',
            instanceId: invocation.instanceId,
            invocationId: invocation.id,
            detail: { requestId: entry.id, attempt: attempts, delayMs, error: describe(error) },
          });
        });
        await this.deps.signals.backoff(delayMs);
      }
    }
  }

  private async freezeAndStop(
    invocation: Invocation,
    entry: OutboxEntry,
    error: unknown,
    trace: InvokeTrace,
  ): Promise<never> {
    await this.freeze(invocation, entry, error, trace);
    throw new InvocationFrozen();
  }

  private async freeze(
    invocation: Invocation,
    entry: OutboxEntry | null,
    error: unknown,
    trace?: InvokeTrace,
  ): Promise<InvocationResult> {
    const lastError = JSON.stringify(describe(error));
    const frozen = await this.unit(invocation, async (tx, write) => {
      const now = this.deps.options.clock();
      if (!(await freezeInvocation(tx, invocation.id, lastError, now, this.deps.leases.nodeId)))
        return false;
      write.afterCommit(() => this.deps.instrumentation.frozen(trace, invocation, error));
      if (entry) await markSendFailed(tx, entry.id, entry.attempts, lastError);
      await write({
        kind: 'frozen',
        instanceId: invocation.instanceId,
        invocationId: invocation.id,
        detail: { error: describe(error), attempts: entry?.attempts },
      });
      return true;
    });
    // Another node took it over while this one ran (its lease lapsed): that node runs it.
    if (!frozen) throw new InvocationTakenOver();
    return { invocationId: invocation.id, status: 'frozen', error: describe(error) };
  }

  private async fail(invocation: Invocation, error: PsiError): Promise<never> {
    await this.signalWithOutcome(invocation, faultSignal(error), async (tx, write) => {
      const lastError = JSON.stringify(describe(error));
      const { leases, options } = this.deps;
      if (!(await failInvocation(tx, invocation.id, lastError, options.clock(), leases.nodeId)))
        return TAKEN_OVER;
      await write({
        kind: 'failed',
        instanceId: invocation.instanceId,
        invocationId: invocation.id,
        detail: { error: describe(error) },
      });
    });
    throw error;
  }

  private async businessOutcome(
    invocation: Invocation,
    error: PsiError,
  ): Promise<InvocationResult> {
    const transition = (error as { transition?: string }).transition;
    const signal = transition ? { transition } : faultSignal(error);
    await this.signalWithOutcome(invocation, signal, async (tx, write) => {
      const lastError = JSON.stringify(describe(error));
      const { leases, options } = this.deps;
      const now = options.clock();
      if (!(await completeWithBusinessError(tx, invocation.id, lastError, now, leases.nodeId)))
        return TAKEN_OVER;
      await cancelOpenOfInvocation(tx, invocation.id, now);
      await write({
        kind: 'completed',
        instanceId: invocation.instanceId,
        invocationId: invocation.id,
        detail: { step: invocation.step, businessError: describe(error), transition },
      });
    });
    return { invocationId: invocation.id, status: 'completed', transition, error: describe(error) };
  }

  /**
   * A unit of work of the invocation's run (see InvocationCreation.unitOf), which first writes
   * the `sent` marks of requests sent since the run's last unit. A unit that fails leaves them
   * for the next.
   */
  private async unit<T>(
    invocation: Invocation,
    work: (tx: EntityManager, write: Audit) => Promise<T>,
    carry?: EngineStateCarry,
  ): Promise<T> {
    const marks = this.unsentMarks.get(invocation.id);
    if (!marks) return this.creation.unitOf(invocation, work, carry);
    this.unsentMarks.delete(invocation.id);
    try {
      return await this.creation.unitOf(
        invocation,
        async (tx, write) => {
          for (const mark of marks) await mark(tx, write);
          return work(tx, write);
        },
        carry,
      );
    } catch (error) {
      this.unsentMarks.set(invocation.id, [
        ...marks,
        ...(this.unsentMarks.get(invocation.id) ?? []),
      ]);
      throw error;
    }
  }

  private markLater(invocationId: string, mark: UnitWork): void {
    const marks = this.unsentMarks.get(invocationId);
    if (marks) marks.push(mark);
    else this.unsentMarks.set(invocationId, [mark]);
  }

  /**
   * The run ended with marks no unit wrote (it stood down, or stopped for a retry or a close):
   * written on their own. Failing, they are lost, and the entry stays pending: a re-run sends it
   * again under its id.
   */
  private async writeUnsentMarks(invocation: Invocation): Promise<void> {
    if (!this.unsentMarks.has(invocation.id)) return;
    try {
      await this.unit(invocation, async () => undefined);
    } catch (error) {
      this.deps.options.logger.warn(
        { invocationId: invocation.id, err: describe(error) },
        `Could not record the requests invocation ${invocation.id} sent; a re-run sends them again under their ids`,
      );
    } finally {
      this.unsentMarks.delete(invocation.id);
    }
  }

  private async fault(target: StepActivation, error: unknown): Promise<void> {
    await this.signalStep(target, faultSignal(error));
  }

  /**
   * Signals the step with its outcome, then runs `record` (the outcome's record) in the unit
   * that commits the engine's new state: one commit, so no node ever reads the outcome recorded
   * while the engine still rests at the step. Recorded first and signalled after, a restore on
   * another node in that window signalled the step again (see resignalFinishedStep) from the
   * state it had read, and of the two moves out of the step the later write won, even over the
   * delivery that had ended the instance meanwhile (an instance left waiting for good). A crash
   * before the commit leaves neither: the invocation is still running, and its re-run replays
   * its committed requests.
   *
   * Held under the instance's lock, as a delivery is: until the commit this node reads the
   * carried state (the instance at its wait state), and an answer it received meanwhile would
   * be claimed on it, the claim committing before the state; a crash between left a claim on a
   * wait state the instance never durably reached, settled `late` on restart, and the instance
   * waited there for an answer already taken.
   *
   * The record is written only while this node still holds the invocation's lease (`record`
   * returns TAKEN_OVER otherwise). A node whose lease lapsed (a starved process) while another
   * took the invocation over must neither record nor move the instance: the unit rolls back and
   * the engine's move is discarded with it (see discardingCarriedStates), or it could overwrite
   * the other run's move and even the delivery after it.
   */
  private signalWithOutcome<T>(
    invocation: Invocation,
    signal: SignalOptions,
    record: (tx: EntityManager, write: Audit) => Promise<T | typeof TAKEN_OVER>,
  ): Promise<T> {
    return this.deps.instanceMutex.run(invocation.instanceId, () =>
      this.deps.audit.carryingEngineStates(async (carry) => {
        await this.signalStep(invocation, signal);
        return this.unit(
          invocation,
          async (tx, write) => {
            const recorded = await record(tx, write);
            if (recorded === TAKEN_OVER) throw discardingCarriedStates(new InvocationTakenOver());
            return recorded;
          },
          carry,
        );
      }),
    );
  }

  private async signalStep(target: StepActivation, options: SignalOptions): Promise<void> {
    try {
      await this.deps.engine.signal(target.instanceId, target.step, {
        ...options,
        signalId: PsiSignalIds.step(target.activationId),
        activationId: target.activationId,
      });
    } catch (error) {
      this.deps.options.logger.warn(
        { instanceId: target.instanceId, step: target.step, err: describe(error) },
        `Instance ${target.instanceId} is no longer at service step "${target.step}"; its outcome was recorded but not signalled`,
      );
    }
  }
}

function faultSignal(error: unknown): SignalOptions {
  const code = PsiError.is(error) ? error.code : 'PSI_ADAPTER_FAILED';
  const message = error instanceof Error ? error.message : String(error);
  return { fault: { code, message } };
}

function isBusinessError(error: unknown): error is PsiError {
  return (
    BusinessError.is(error) || (PsiError.is(error) && error.code === PsiErrorCode.TransportBusiness)
  );
}
