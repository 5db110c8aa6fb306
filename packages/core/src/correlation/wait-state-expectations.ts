import { MODEL_WAIT } from '../adapter/wait-binding-model';
import type {
  AwaitedMessage,
  ProcessEngine,
  WaitStateEnteredEvent,
  WaitStateLeftEvent,
} from '../spi/process-engine';
import {
  cancelOpenOfVisit,
  expectationsAtWaitStates,
  type Expectation,
} from '../records/expectations';
import type { AdapterCatalog } from '../runtime/adapter-catalog';
import type { Audit, AuditLog } from '../records/audit-log';
import type { EntityManager } from 'typeorm';
import {
  businessKeyFromVariables,
  canonicalBusinessKey,
  pickFields,
} from '../runtime/business-key';
import type { CompiledCoordinatorOptions } from '../runtime/coordinator-options';
import type { FlowSignals } from '../runtime/flow-signals';
import { recordExpectations } from '../invocation/expectation-recording';
import { discardsCarriedStates } from '../store/engine-state-carry';
import { timeOrderedId } from '../store/time-ordered-id';

export interface WaitStateExpectationsDeps {
  options: CompiledCoordinatorOptions;
  audit: AuditLog;
  engine: ProcessEngine;
  catalog: AdapterCatalog;
  /** Deadlines of the expectations recorded, to the deadline flow. */
  signals: FlowSignals;
}

/** One answer an entry waits for: what the model declares, completed by a wait binding. */
interface PlannedWait {
  event: string;
  /** The wait state the answer is signalled at. */
  waitState: string;
  repeats: boolean;
  /** The wait binding that handles it, else the model-wait handler (nothing written). */
  adapter: string;
  /** The binding's business-key mapping (payload field → variable). */
  keyMapping?: Readonly<Record<string, string>>;
  /** Business-key values the engine evaluated. */
  keyValues?: Readonly<Record<string, unknown>>;
  /** Addressed by the instance id as correlation key (unless the binding turns it off). */
  byInstance: boolean;
  timeoutMs?: number;
  timeoutTransition?: string;
}

/**
 * The expectations wait states declare themselves, with no service call before them: when the
 * engine reports an entry (`wait-state-entered` with an `activationId`), what its model awaits
 * and what the wait bindings bound at that wait state (`@WaitBinding`) become expectations of
 * that entry, recorded with the same lock and adoption of parked answers as an adapter's; from
 * then on an answer takes the same receive path (dedupe, match, deliver or park, dead letters,
 * the race with a timeout). The expectations of one entry are one of many; one that `repeats`
 * reopens after each delivery. When the engine reports the entry left (`wait-state-left`), what
 * is still open of it is cancelled. An entry already recorded (an event raised again after a
 * restart) is left as it is; an answer an adapter already expects there is not expected twice.
 */
export class WaitStateExpectations {
  private readonly warned = new Set<string>();

  constructor(private readonly deps: WaitStateExpectationsDeps) {}

  /** Records what the entry waits for. Resolves with the number of parked answers adopted. */
  async entered(event: WaitStateEnteredEvent): Promise<number> {
    const planned = this.plan(event);
    if (planned.length === 0) return 0;
    const { instanceId, activationId } = event;
    if (activationId === undefined) {
      this.warnOnce(
        event.waitState,
        `Engine "${this.deps.engine.name}" gives no activationId for wait state "${event.waitState}": what it waits for is not recorded (only adapters' expectations reach it)`,
      );
      return 0;
    }
    // Entered by a delivery's signal, the entry's state commits with the delivery's record:
    // what it waits for is recorded after that, never for an entry a crash could still undo
    // (the redelivery enters anew, and both entries' expectations would match its answers).
    // An entry whose state never committed (its move was undone) waits for nothing.
    if (!(await this.deps.audit.carriedStatesCommitted())) return 0;
    const variables = planned.some((p) => p.keyMapping)
      ? await this.deps.engine.getVariables(instanceId)
      : {};
    const { clock } = this.deps.options;
    const result = await this.deps.audit.transaction(async (tx, audit) => {
      const now = clock();
      // One read: what this entry recorded already (an event raised again after a restart),
      // and what an adapter already expects at these wait states.
      const targets = [...new Set(planned.map((p) => p.waitState))];
      const known = await expectationsAtWaitStates(tx, instanceId, targets);
      if (known.some((e) => e.activationId === activationId)) return { adopted: 0, deadline: null };
      const waits = planned.filter(
        (p) =>
          !known.some(
            (e) =>
              e.activationId === null &&
              (e.status === 'open' || e.status === 'claimed') &&
              e.waitState === p.waitState &&
              e.event === p.event,
          ),
      );
      if (waits.length === 0) return { adopted: 0, deadline: null };
      const visit = `wait:${timeOrderedId()}`;
      const group = waits.length > 1 ? 'wait-state' : null;
      const rows = waits.map((wait): Expectation => ({
        id: timeOrderedId(),
        invocationId: visit,
        instanceId,
        adapter: wait.adapter,
        event: wait.event,
        waitState: wait.waitState,
        correlationKey: wait.byInstance ? instanceId : null,
        businessKey: businessKeyOf(wait, variables),
        groupId: wait.repeats ? null : group,
        deadline: wait.timeoutMs === undefined ? null : now + wait.timeoutMs,
        timeoutTransition: wait.timeoutTransition ?? null,
        timeoutPending: false,
        parkingTtlMs: null,
        status: 'open',
        createdAt: now,
        closedAt: null,
        claimedBy: null,
        claimExpiresAt: null,
        claimedMessage: null,
        traceParent: null,
        traceState: null,
        deliveryId: null,
        activationId,
        repeats: wait.repeats,
      }));
      const adopted = await recordExpectations(tx, instanceId, rows);
      await audit({
        kind: 'awaiting',
        instanceId,
        invocationId: visit,
        detail: {
          waitState: event.waitState,
          activationId,
          expecting: rows.map((row) => ({
            event: row.event,
            waitState: row.waitState,
            correlationKey: row.correlationKey,
            businessKey: row.businessKey,
            deadline: row.deadline,
            repeats: row.repeats || undefined,
            handler: row.adapter,
          })),
          adopted,
        },
      });
      const deadlines = rows.map((row) => row.deadline).filter((d): d is number => d !== null);
      return { adopted, deadline: deadlines.length > 0 ? Math.min(...deadlines) : null };
    });
    if (result.deadline !== null) this.deps.signals.dueAt(result.deadline);
    return result.adopted;
  }

  /** Cancels what the entry still waits for: its later answers are late, not delivered. */
  async left(event: WaitStateLeftEvent): Promise<void> {
    const { instanceId, activationId } = event;
    const cancel = async (tx: EntityManager, audit: Audit): Promise<void> => {
      const cancelled = await cancelOpenOfVisit(
        tx,
        instanceId,
        activationId,
        this.deps.options.clock(),
      );
      if (cancelled > 0) {
        await audit({
          kind: 'awaiting',
          instanceId,
          detail: { waitState: event.waitState, activationId, left: true, cancelled },
        });
      }
    };
    // Left by a delivery's signal: cancelled in the commit of the state that left the entry,
    // never before it (a crash would restore the instance at an entry whose expectations are
    // gone) and in no commit of its own. Else (a scope still settling, or none) on its own,
    // once the state is durable.
    const riding = this.deps.audit.rideWithCarriedStates(cancel);
    if (riding) {
      // Undone with the scope's states: the entry was never left.
      return riding.catch((error: unknown) => {
        if (!discardsCarriedStates(error)) throw error;
      });
    }
    if (!(await this.deps.audit.carriedStatesCommitted())) return;
    await this.deps.audit.transaction(cancel);
  }

  /** The model's awaits, completed by the bindings at their wait states, plus bindings alone. */
  private plan(event: WaitStateEnteredEvent): PlannedWait[] {
    const { catalog } = this.deps;
    // Declared by another entry (the event-based gateway before it).
    if (event.awaits?.length === 0) return [];
    const planned: PlannedWait[] = [];
    const fromModel = (awaited: AwaitedMessage): PlannedWait => {
      const waitState = awaited.waitState ?? event.waitState;
      const bound = catalog.waitsAt(waitState).find((b) => b.handler.event === awaited.event);
      return {
        event: awaited.event,
        waitState,
        repeats: awaited.repeats === true,
        adapter: bound?.model.name ?? MODEL_WAIT,
        keyMapping: bound?.handler.businessKey,
        keyValues: awaited.businessKey,
        byInstance: bound?.handler.correlationKey !== false,
        timeoutMs: bound?.handler.timeoutMs,
        timeoutTransition: bound?.handler.timeoutTransition,
      };
    };
    for (const awaited of event.awaits ?? []) planned.push(fromModel(awaited));
    for (const { model, handler } of catalog.waitsAt(event.waitState)) {
      if (planned.some((p) => p.waitState === event.waitState && p.event === handler.event)) {
        continue;
      }
      planned.push({
        event: handler.event,
        waitState: event.waitState,
        repeats: false,
        adapter: model.name,
        keyMapping: handler.businessKey,
        byInstance: handler.correlationKey !== false,
        timeoutMs: handler.timeoutMs,
        timeoutTransition: handler.timeoutTransition,
      });
    }
    return planned;
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.deps.options.logger.warn(message);
  }
}

function businessKeyOf(wait: PlannedWait, variables: Record<string, unknown>): string | null {
  if (wait.keyMapping) return businessKeyFromVariables(wait.keyMapping, variables);
  if (!wait.keyValues) return null;
  const fields = pickFields(wait.keyValues, Object.keys(wait.keyValues));
  return fields ? canonicalBusinessKey(fields) : null;
}
