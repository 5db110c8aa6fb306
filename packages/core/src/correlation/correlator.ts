// Over 400 lines: the receive flow (dedupe, match, park, release) shares its collaborators and
// helpers; delivery, dedupe, replay and ended instances already live beside it. Issue 17 (a
// records layer under the flows) is where core gets split further.
import type { EntityManager } from 'typeorm';
import type { AdapterRunner } from '../adapter/adapter-runner';
import { PsiError, PsiErrorCode, type FieldViolation } from '../errors';
import type { ProcessEngine } from '../spi/process-engine';
import type { ServiceRegistry } from '../spi/service-registry';
import type { InboundMessage, ReceiveOutcome } from '../spi/transport';
import { answerKeys, lockAnswerKeys } from '../store/answer-locks';
import { completeWaitingIfSettled } from '../records/invocations';
import type { AdapterCatalog } from '../runtime/adapter-catalog';
import type { Audit, AuditLog } from '../records/audit-log';
import type { CompiledCoordinatorOptions } from '../runtime/coordinator-options';
import type { FlowSignals } from '../runtime/flow-signals';
import type { DeadLetterQueue } from '../records/dead-letters';
import { InboundDedupe } from '../records/inbound-ids';
import { DeliveryRunner } from './delivery';
import { EndedInstances, type EndedSettlement } from './ended-instances';
import { isSignalRejected } from '../runtime/describe-error';
import { timeOrderedId } from '../store/time-ordered-id';
import type { KeyedMutex } from '../runtime/keyed-mutex';
import { boundExpectations } from './answer-binding';
import { parkingFull } from './parking-cap';
import { MessageStarts, type StartDecision } from './message-starts';
import type { NodeLeases } from '../cluster/node-leases';
import { PsiSignalIds } from '../runtime/signal-ids';
import { timeoutsOfEarlierVisits } from '../timeouts/stale-timeouts';
import { messageFromParked, normaliseMessage, type ReceivedMessage } from './received-message';
import type { Instrumentation } from '../observability/instrumentation';
import {
  claimAndCloseGroup,
  expectationById,
  expectationsByBusinessKeys,
  expectationsByCorrelationKey,
  pendingTimeoutsAndExpectations,
  settleTimeout,
  type Expectation,
} from '../records/expectations';
import {
  parkAnswer,
  parkedForInstance,
  takeParkedAnswer,
  type ParkedAnswer,
} from '../records/parked-answers';

export interface CorrelatorDeps {
  options: CompiledCoordinatorOptions;
  audit: AuditLog;
  engine: ProcessEngine;
  registry: ServiceRegistry;
  catalog: AdapterCatalog;
  runner: AdapterRunner;
  deadLetters: DeadLetterQueue;
  instanceMutex: KeyedMutex;
  /** Claims on answers being delivered, so a dead node's deliveries are settled by another. */
  leases: NodeLeases;
  instrumentation: Instrumentation;
  /** Parking expiries to the deadline flow; instances other nodes may deliver to, to them. */
  signals: FlowSignals;
}

/** A parked answer on its way to delivery: its row, and how long it waited. */
interface ReleasedAnswer {
  seq: number;
  parkedFor: number;
}

type Decision =
  | { kind: 'done'; outcome: ReceiveOutcome }
  | { kind: 'unknown'; outcome: ReceiveOutcome }
  | { kind: 'matched'; expectation: Expectation; message: ReceivedMessage }
  | StartDecision;

/**
 * Receive → dedupe → match → deliver or park, and release on readiness. Every decision that
 * matters (claim, park, dead letter) is a conditional write in the store, so two answers, or an
 * answer and a timeout, can race without either being lost or delivered twice.
 */
/** A claim won (with the delivery's id), or lost with the answer's outcome. */
type ClaimResult = { won: true; deliveryId: string } | { won: false; outcome: ReceiveOutcome };

/** The first parked answer of a release, claimed in the release's read. */
interface ClaimedFirst {
  seq: number;
  expectation: Expectation;
  message: ReceivedMessage;
  parkedFor: number;
  result: ClaimResult;
}

export class Correlator {
  private readonly dedupe: InboundDedupe;
  private readonly ended: EndedInstances;
  private readonly starts: MessageStarts;
  readonly delivery: DeliveryRunner;

  constructor(private readonly deps: CorrelatorDeps) {
    this.dedupe = new InboundDedupe(deps.options.dedupeWindowMs);
    this.ended = new EndedInstances(deps);
    this.starts = new MessageStarts({
      ...deps,
      dedupe: this.dedupe,
      deadLetter: (tx, audit, message, reason, detail) =>
        this.deadLetter(tx, audit, message, reason, detail),
    });
    this.delivery = new DeliveryRunner({
      ...deps,
      ended: this.ended,
      completeInvocationIfDone: (tx, invocationId) =>
        this.completeInvocationIfDone(tx, invocationId),
    });
  }

  async receive(input: InboundMessage): Promise<ReceiveOutcome> {
    const message = normaliseMessage(input, this.deps.catalog, this.deps.options.clock());
    return this.deps.instrumentation.receive(message, input.traceHeaders, () =>
      this.correlate(message),
    );
  }

  private async correlate(message: ReceivedMessage): Promise<ReceiveOutcome> {
    const { options, instrumentation } = this.deps;
    const parkingTtlMs = await this.parkingTtlFor(message.event);
    const unknown = await this.unknown(message.event);
    const knownEvents = unknown ? await this.knownEvents() : [];
    const starts = await this.starts.of(message);
    const decision = await this.deps.audit.transaction<Decision>(async (tx, audit) => {
      const verdict = await this.dedupe.check(tx, message);
      if (verdict.kind === 'duplicate') {
        return { kind: 'done', outcome: await this.duplicate(audit, message) };
      }
      await audit({
        kind: 'received',
        correlationKey: message.correlationKey ?? undefined,
        detail: { messageId: message.messageId, event: message.event, source: message.source },
      });
      if (verdict.kind === 'conflict') {
        return { kind: 'done', outcome: await this.conflict(tx, audit, message, verdict) };
      }
      const fresh = { ...message, inbound: verdict.kind };
      if (unknown) {
        // No adapter declares the event: no expectation can ever take it (a typo, say).
        const taken = await this.rememberId(tx, audit, fresh);
        if (taken) return { kind: 'done', outcome: taken };
        return {
          kind: 'unknown',
          outcome: await this.deadLetter(tx, audit, message, 'unknown-event', { knownEvents }),
        };
      }
      // Before looking: an invoke recording the expectation right now must not miss this answer.
      await lockAnswerKeys(
        tx,
        answerKeys(message.event, message.correlationKey, message.businessKeys),
      );
      const matches = await this.findExpectations(tx, message);
      // A waiting instance takes it first; else a process that starts on it (message-starts.ts).
      if (matches.length === 0 && starts.length > 0) {
        return this.starts.decide(tx, audit, fresh, starts);
      }
      // A repeating expectation being delivered takes this answer next (the instance lock waits).
      const open = matches.filter(
        (e) => e.status === 'open' || (e.repeats && e.status === 'claimed'),
      );
      // Every outcome but a match is stored in this transaction: remember the id with it. A
      // match is stored (claimed or parked) later, and remembered then.
      if (open.length !== 1) {
        const taken = await this.rememberId(tx, audit, fresh);
        if (taken) return { kind: 'done', outcome: taken };
      }
      if (open.length > 1) {
        const candidates = open.map((e) => ({ expectationId: e.id, instanceId: e.instanceId }));
        return {
          kind: 'done',
          outcome: await this.deadLetter(tx, audit, message, 'ambiguous', { candidates }),
        };
      }
      if (open.length === 1) return { kind: 'matched', expectation: open[0], message: fresh };
      if (matches.length > 0) {
        const closed = matches[0];
        return {
          kind: 'done',
          outcome: await this.deadLetter(
            tx,
            audit,
            message,
            closedReason(closed),
            {
              expectationStatus: closed.status,
            },
            closed,
          ),
        };
      }
      // No expectation yet: the invoke that registers it may commit a moment later.
      return { kind: 'done', outcome: await this.park(tx, audit, message, null, parkingTtlMs) };
    });
    if (decision.kind === 'unknown') {
      options.logger.warn(
        {
          messageId: message.messageId,
          event: message.event,
          correlationKey: message.correlationKey ?? undefined,
          source: message.source,
          knownEvents,
        },
        `No adapter, wait binding or engine model declares the event "${message.event}"; the answer is dead-lettered (unknown-event)`,
      );
      return decision.outcome;
    }
    if (decision.kind === 'done') return decision.outcome;
    if (decision.kind === 'start') return this.starts.run(decision);
    const { expectation, message: matched } = decision;
    instrumentation.matched(matched, expectation);
    const violations = await this.validate(expectation, matched);
    if (violations.length > 0) {
      return this.deps.audit.transaction(async (tx, audit) => {
        const taken = await this.rememberId(tx, audit, matched);
        if (taken) return taken;
        return this.deadLetter(tx, audit, matched, 'invalid', { violations }, expectation);
      });
    }
    return this.deps.instanceMutex.run(expectation.instanceId, () =>
      this.deliverOrPark(expectation, matched),
    );
  }

  /**
   * Delivers what was waiting for `instanceId`: timeouts that won while it was elsewhere, then
   * parked answers in arrival order, for every wait state it is in now.
   *
   * Started by an engine event inside a carrying scope (a step's outcome or a delivery put the
   * instance at its wait state), the release reads what is parked only once that state
   * committed: a node that read the state before parks its answer, and only a read after the
   * commit is sure to find it (read earlier, the answer stayed parked for good).
   */
  async release(instanceId: string): Promise<void> {
    await this.deps.audit.carriedStatesCommitted();
    return this.deps.instanceMutex.run(instanceId, () => this.releaseNow(instanceId));
  }

  /**
   * Signals a timeout that already won its claim, if the instance is at the wait state; false
   * when it stays pending (for the next readiness).
   */
  async signalTimeout(expectation: Expectation): Promise<boolean> {
    const states = await this.waitStatesOf(expectation.instanceId);
    if (!states.includes(expectation.waitState)) return false;
    try {
      await this.deps.engine.signal(expectation.instanceId, expectation.waitState, {
        activationId: expectation.activationId ?? undefined,
        ...(expectation.timeoutTransition
          ? { transition: expectation.timeoutTransition }
          : {
              fault: {
                code: PsiErrorCode.Timeout,
                message: `No "${expectation.event}" arrived before the deadline`,
              },
            }),
        signalId: PsiSignalIds.timeout(expectation.id),
      });
    } catch (error) {
      if (isSignalRejected(error)) return false; // moved meanwhile; pending for the next readiness
      throw error;
    }
    await this.deps.audit.transaction(async (tx, audit) => {
      // Another node may have signalled it too (the engine took it once).
      if (!(await settleTimeout(tx, expectation.id))) return;
      await this.completeInvocationIfDone(tx, expectation.invocationId);
      await audit(
        timedOutEntry(expectation, {
          deadline: expectation.deadline,
          signalled: expectation.timeoutTransition ?? PsiErrorCode.Timeout,
        }),
      );
    });
    return true;
  }

  /**
   * Whether the engine already took a pending timeout's signal (a crash came between the signal
   * and its bookkeeping). Asked of the engine when it keeps signal ids; otherwise inferred: a
   * later invocation of the same step shows the instance left the visit the timeout was for.
   */
  private async timeoutAlreadyTaken(
    expectation: Expectation,
    laterVisits: ReadonlySet<string> | null,
  ): Promise<boolean> {
    const engine = this.deps.engine;
    if (!engine.hasAppliedSignal) return laterVisits?.has(expectation.id) ?? false;
    try {
      return await engine.hasAppliedSignal(
        expectation.instanceId,
        PsiSignalIds.timeout(expectation.id),
      );
    } catch (error) {
      if (PsiError.is(error) && error.code === PsiErrorCode.InstanceNotFound) return false;
      throw error;
    }
  }

  /** Records a pending timeout whose signal the engine took before a crash, without signalling. */
  private async settleStaleTimeout(expectation: Expectation): Promise<void> {
    await this.deps.audit.transaction(async (tx, audit) => {
      if (!(await settleTimeout(tx, expectation.id))) return; // another node settled it meanwhile
      await audit(
        timedOutEntry(expectation, {
          signalled: false,
          reason: this.deps.engine.hasAppliedSignal
            ? 'the engine took this signal before a restart'
            : 'the instance entered the step again since: the signal was taken before a restart',
        }),
      );
    });
  }

  /** Settles what an ended instance left (see EndedInstances). */
  async instanceEnded(instanceId: string): Promise<EndedSettlement> {
    return this.deps.instanceMutex.run(instanceId, () => this.ended.settle(instanceId));
  }

  /** Settles the instance's leftovers if the engine says it ended; the caller holds its lock. */
  async settleIfEndedNow(instanceId: string): Promise<boolean> {
    if (!(await this.ended.hasEnded(instanceId))) return false;
    await this.ended.settle(instanceId);
    return true;
  }

  /**
   * An instance with leftovers (parked answers, pending timeouts): released when it waits here,
   * settled when the engine says it ended. What the `wait-state-entered` or `instance-ended`
   * event a crash (or a coordinator that did not listen yet) lost would have done.
   */
  async settleLeftovers(instanceId: string): Promise<'released' | 'ended' | 'left'> {
    return this.deps.instanceMutex.run(instanceId, async () => {
      let states: readonly string[];
      try {
        states = await this.deps.engine.getWaitStates(instanceId);
      } catch (error) {
        if (PsiError.is(error) && error.code === PsiErrorCode.InstanceNotFound) return 'left';
        throw error;
      }
      if (states.length > 0) {
        await this.releaseNow(instanceId);
        return 'released';
      }
      return (await this.settleIfEndedNow(instanceId)) ? 'ended' : 'left';
    });
  }

  private async releaseNow(instanceId: string): Promise<void> {
    // One read for all that waits: timeouts that won while the instance was elsewhere, parked
    // answers in arrival order, and their expectations. Each delivery re-checks its expectation
    // with the conditional claim; what a delivery or a timeout may have changed is read again.
    // With no timeout pending, the first parked answer the instance can take now is claimed in
    // the same unit (one commit fewer for an early answer).
    const states = await this.waitStatesOf(instanceId);
    const held: string[] = [];
    const waiting = await this.deps.audit
      .transaction(async (tx, write) => {
        const parked = await parkedForInstance(tx, instanceId);
        const ids = [...new Set(parked.map((row) => row.expectationId).filter(isString))];
        const { pendingTimeouts, expectations } = await pendingTimeoutsAndExpectations(
          tx,
          instanceId,
          ids,
        );
        // Engines that keep signal ids are asked instead (timeoutAlreadyTaken).
        const laterVisits =
          pendingTimeouts.length > 0 && !this.deps.engine.hasAppliedSignal
            ? await timeoutsOfEarlierVisits(tx, pendingTimeouts)
            : null;
        const first =
          pendingTimeouts.length === 0
            ? await this.claimFirstParked(tx, write, parked, expectations, states, held)
            : null;
        return { pendingTimeouts, laterVisits, parked, expectations, first };
      })
      .catch((error: unknown) => {
        for (const id of held) this.deps.leases.releaseDelivery(id);
        throw error;
      });
    let claimedSeq: number | null = null;
    if (waiting.first) {
      const { expectation, message, parkedFor, result } = waiting.first;
      claimedSeq = waiting.first.seq;
      if (result.won) {
        await this.deps.instrumentation.release(message, expectation, parkedFor, () =>
          this.delivery.complete({
            expectation,
            message,
            deliveryId: result.deliveryId,
            redelivered: false,
          }),
        );
      } else this.deps.leases.releaseDelivery(expectation.id);
    }
    for (const expectation of waiting.pendingTimeouts) {
      if (await this.timeoutAlreadyTaken(expectation, waiting.laterVisits)) {
        await this.settleStaleTimeout(expectation);
      } else await this.signalTimeout(expectation);
    }

    let readAgain = waiting.pendingTimeouts.length > 0 || claimedSeq !== null;
    for (const row of waiting.parked) {
      const expectationId = row.expectationId;
      if (!expectationId || row.seq === claimedSeq) continue;
      const expectation = readAgain
        ? await this.deps.audit.transaction((tx) => expectationById(tx, expectationId))
        : waiting.expectations.get(expectationId);
      if (!expectation) continue;
      const message = messageFromParked(row);
      if (expectation.status !== 'open') {
        await this.deps.audit.transaction(async (tx, audit) => {
          if (!(await takeParkedAnswer(tx, row.seq))) return;
          await this.deadLetter(
            tx,
            audit,
            message,
            closedReason(expectation),
            {
              expectationStatus: expectation.status,
            },
            expectation,
          );
        });
        continue;
      }
      const states = await this.waitStatesOf(instanceId);
      if (!states.includes(expectation.waitState)) continue;
      const violations = await this.validate(expectation, message);
      if (violations.length > 0) {
        await this.deps.audit.transaction(async (tx, audit) => {
          await takeParkedAnswer(tx, row.seq);
          await this.deadLetter(tx, audit, message, 'invalid', { violations }, expectation);
        });
        continue;
      }
      const parkedFor = this.deps.options.clock() - row.receivedAt;
      await this.deps.instrumentation.release(message, expectation, parkedFor, () =>
        this.deliver(expectation, message, { seq: row.seq, parkedFor }),
      );
      readAgain = true; // the delivery may have closed other expectations (its group, say)
    }
  }

  /**
   * In a release's read: claims the first parked answer if the instance can take it now (its
   * expectation open, its wait state current, its payload valid); null otherwise, and the
   * release's loop decides about every row as before.
   */
  private async claimFirstParked(
    tx: EntityManager,
    write: Audit,
    parked: readonly ParkedAnswer[],
    expectations: ReadonlyMap<string, Expectation>,
    states: readonly string[],
    held: string[],
  ): Promise<ClaimedFirst | null> {
    const row = parked.find((candidate) => candidate.expectationId);
    const expectation = row?.expectationId ? expectations.get(row.expectationId) : undefined;
    if (!row || !expectation || expectation.status !== 'open') return null;
    if (!states.includes(expectation.waitState)) return null;
    const message = messageFromParked(row);
    if ((await this.validate(expectation, message)).length > 0) return null;
    const parkedFor = this.deps.options.clock() - row.receivedAt;
    // Held before the claim commits: a take-over sweep never sees this claim as nobody's.
    this.deps.leases.holdDelivery(expectation.id);
    held.push(expectation.id);
    const result = await this.claimIn(tx, write, expectation, message, {
      seq: row.seq,
      parkedFor,
    });
    return { seq: row.seq, expectation, message, parkedFor, result };
  }

  private async deliverOrPark(
    expectation: Expectation,
    message: ReceivedMessage,
  ): Promise<ReceiveOutcome> {
    const states = await this.waitStatesOf(expectation.instanceId);
    if (states.includes(expectation.waitState)) {
      const delivered = await this.deliver(expectation, message, null);
      // A repeating entry stays: answers parked meanwhile (another node's claim) come next.
      if (expectation.repeats) await this.releaseNow(expectation.instanceId);
      return delivered;
    }
    // An instance that ended (its end event lost in a crash) takes nothing: settle what it left,
    // so this answer is late at once instead of parked for its TTL.
    if (states.length === 0) await this.settleIfEndedNow(expectation.instanceId);
    const outcome = await this.deps.audit.transaction(async (tx, audit) => {
      const taken = await this.rememberId(tx, audit, message);
      if (taken) return taken;
      // The instance is not at the wait state because a timeout (or a group sibling) closed the
      // expectation and moved it on since we matched: the answer lost; it is late, not parked.
      const current = await expectationById(tx, expectation.id);
      if (current && current.status !== 'open') {
        return this.deadLetter(
          tx,
          audit,
          message,
          closedReason(current),
          { expectationStatus: current.status },
          current,
        );
      }
      return this.park(
        tx,
        audit,
        message,
        expectation,
        expectation.parkingTtlMs ?? this.deps.options.defaultParkingTtlMs,
      );
    });
    if (outcome.status !== 'parked') return outcome;
    // Another node's engine may have the instance at the wait state: tell the other nodes.
    this.deps.signals.announce(expectation.instanceId);
    // The instance may have arrived while we parked (another node's engine, say): look again.
    if ((await this.waitStatesOf(expectation.instanceId)).includes(expectation.waitState)) {
      await this.releaseNow(expectation.instanceId);
    }
    return outcome;
  }

  /** Claims the expectation with the answer, then runs the delivery to its end. */
  private async deliver(
    expectation: Expectation,
    message: ReceivedMessage,
    parked: ReleasedAnswer | null,
  ): Promise<ReceiveOutcome> {
    // Held before the claim commits: a take-over sweep never sees this claim as nobody's.
    this.deps.leases.holdDelivery(expectation.id);
    const claim = await this.claim(expectation, message, parked).catch((error: unknown) => {
      this.deps.leases.releaseDelivery(expectation.id);
      throw error;
    });
    if (!claim.won) {
      this.deps.leases.releaseDelivery(expectation.id);
      return claim.outcome;
    }
    return this.delivery.complete({
      expectation,
      message,
      deliveryId: claim.deliveryId,
      redelivered: false,
    });
  }

  /** The claim: the answer (and the group) won, in one transaction with its dedupe id. */
  private claim(
    expectation: Expectation,
    message: ReceivedMessage,
    parked: ReleasedAnswer | null,
  ): Promise<ClaimResult> {
    return this.deps.audit.transaction((tx, write) =>
      this.claimIn(tx, write, expectation, message, parked),
    );
  }

  /** The claim's unit of work (for {@link claim}, or inside a release's read). */
  private async claimIn(
    tx: EntityManager,
    write: Audit,
    expectation: Expectation,
    message: ReceivedMessage,
    parked: ReleasedAnswer | null,
  ): Promise<ClaimResult> {
    if (parked !== null) {
      await write({
        kind: 'released',
        instanceId: expectation.instanceId,
        invocationId: expectation.invocationId,
        correlationKey: message.correlationKey ?? undefined,
        messageId: message.messageId,
        detail: {
          event: message.event,
          waitState: expectation.waitState,
          parkedFor: parked.parkedFor,
        },
      });
      // Several nodes may release the same parked answer: whoever removes it delivers it.
      if (!(await takeParkedAnswer(tx, parked.seq))) {
        return { won: false as const, outcome: { status: 'duplicate' as const } };
      }
      write.afterCommit(() => this.deps.instrumentation.released(message, parked.parkedFor));
    }
    const taken = await this.rememberId(tx, write, message);
    if (taken) return { won: false as const, outcome: taken };
    // The claim carries the answer and the delivery's id, so a node that dies before
    // finishing the delivery leaves all recovery needs to finish it.
    const deliveryId = timeOrderedId();
    const won = await claimAndCloseGroup(
      tx,
      expectation,
      { deliveryId, ...this.deps.leases.claimColumns(message) },
      this.deps.options.clock(),
    );
    if (!won) {
      const current = await expectationById(tx, expectation.id);
      if (!current) throw new Error(`Expectation ${expectation.id} vanished while claimed`);
      if (current.repeats && current.status === 'claimed') {
        // Another node delivers this entry's previous answer: this one waits its turn.
        const ttl = current.parkingTtlMs ?? this.deps.options.defaultParkingTtlMs;
        return {
          won: false as const,
          outcome: await this.park(tx, write, message, current, ttl),
        };
      }
      const outcome = await this.deadLetter(
        tx,
        write,
        message,
        closedReason(current),
        {
          expectationStatus: current.status,
        },
        current,
      );
      return { won: false as const, outcome };
    }
    return { won: true as const, deliveryId };
  }

  /**
   * Remembers the message's id with the outcome this unit stores; null when it did. A message
   * with the same id that stored its outcome since this one was checked makes it a duplicate (or
   * a conflict), returned as this message's outcome: the unit stores nothing else for it.
   */
  private async rememberId(
    tx: EntityManager,
    audit: Audit,
    message: ReceivedMessage,
  ): Promise<ReceiveOutcome | null> {
    const remembered = await this.dedupe.remember(tx, message);
    if (remembered.kind === 'remembered') return null;
    if (remembered.kind === 'duplicate') return this.duplicate(audit, message);
    return this.conflict(tx, audit, message, remembered);
  }

  private async duplicate(audit: Audit, message: ReceivedMessage): Promise<ReceiveOutcome> {
    audit.afterCommit(() => this.deps.instrumentation.duplicate(message));
    await audit({
      kind: 'duplicate',
      detail: { messageId: message.messageId, event: message.event },
    });
    return { status: 'duplicate' };
  }

  /** The sender reused an id for other content: keep this one, with the first beside it. */
  private conflict(
    tx: EntityManager,
    audit: Audit,
    message: ReceivedMessage,
    verdict: { first: { receivedAt: number; content: unknown } },
  ): Promise<ReceiveOutcome> {
    return this.deadLetter(tx, audit, message, 'conflict', {
      sender: message.sender,
      first: verdict.first.content,
      firstReceivedAt: verdict.first.receivedAt,
    });
  }

  private async park(
    tx: EntityManager,
    audit: Audit,
    message: ReceivedMessage,
    expectation: Expectation | null,
    ttlMs: number,
  ): Promise<ReceiveOutcome> {
    const { maxParkedPerKey } = this.deps.options;
    if (await parkingFull(tx, message, maxParkedPerKey)) {
      // Junk for a key that never comes must not grow without bound: kept, not parked.
      const where = expectation ?? undefined;
      return this.deadLetter(tx, audit, message, 'parking-full', { maxParkedPerKey }, where);
    }
    const expiresAt = message.receivedAt + ttlMs;
    const parkedId = await parkAnswer(tx, {
      messageId: message.messageId,
      event: message.event,
      correlationKey: message.correlationKey,
      businessKey: message.businessKeys[0] ?? null,
      payload: message.payloadText,
      source: message.source,
      expectationId: expectation?.id ?? null,
      instanceId: expectation?.instanceId ?? null,
      receivedAt: message.receivedAt,
      expiresAt,
      traceParent: message.traceParent,
      traceState: message.traceState,
    });
    await audit({
      kind: 'parked',
      instanceId: expectation?.instanceId,
      invocationId: expectation?.invocationId,
      correlationKey: message.correlationKey ?? undefined,
      messageId: message.messageId,
      detail: {
        event: message.event,
        parkedId: String(parkedId),
        waitingFor: expectation?.waitState ?? 'an expectation',
        expiresAt,
      },
    });
    audit.afterCommit(() => {
      this.deps.instrumentation.parked(message, expectation, String(parkedId));
      this.deps.signals.dueAt(expiresAt);
    });
    return { status: 'parked', parkedId: String(parkedId), instanceId: expectation?.instanceId };
  }

  private async deadLetter(
    tx: EntityManager,
    audit: Audit,
    message: ReceivedMessage,
    reason: Parameters<DeadLetterQueue['add']>[3],
    detail: Record<string, unknown>,
    expectation?: { id: string | null; instanceId: string },
  ): Promise<ReceiveOutcome> {
    audit.afterCommit(() => this.deps.instrumentation.deadLettered(message, reason, expectation));
    return this.deps.deadLetters.add(tx, audit, message, reason, {
      detail,
      instanceId: expectation?.instanceId,
      expectationId: expectation?.id,
    });
  }

  private async findExpectations(
    tx: EntityManager,
    message: ReceivedMessage,
  ): Promise<Expectation[]> {
    const event = message.event;
    if (message.correlationKey) {
      const correlationKey = message.correlationKey;
      const byKey = await expectationsByCorrelationKey(tx, event, correlationKey);
      if (message.boundTo) return openFirst(boundExpectations(byKey, message.boundTo));
      if (byKey.length > 0) return openFirst(byKey);
    }
    if (message.businessKeys.length === 0) return [];
    return openFirst(await expectationsByBusinessKeys(tx, event, message.businessKeys));
  }

  private async validate(
    expectation: Expectation,
    message: ReceivedMessage,
  ): Promise<FieldViolation[]> {
    const model = this.deps.catalog.byName(expectation.adapter);
    return model
      ? this.deps.runner.validateResponse(model, expectation.event, message.payload)
      : [];
  }

  /** Marks the invocation completed once none of its expectations is open or claimed. */
  async completeInvocationIfDone(tx: EntityManager, invocationId: string): Promise<void> {
    await completeWaitingIfSettled(tx, invocationId, this.deps.options.clock());
  }

  private async waitStatesOf(instanceId: string): Promise<readonly string[]> {
    try {
      return await this.deps.engine.getWaitStates(instanceId);
    } catch (error) {
      if (PsiError.is(error) && error.code === PsiErrorCode.InstanceNotFound) return [];
      throw error;
    }
  }

  /** No adapter, wait binding or engine model declares the event: nothing can ever take it. */
  private async unknown(event: string): Promise<boolean> {
    if (this.deps.catalog.declares(event)) return false;
    const declared = (await this.deps.engine.declaredEvents?.()) ?? [];
    return !declared.includes(event);
  }

  /** What the adapters, wait bindings and the engine's models declare. */
  private async knownEvents(): Promise<string[]> {
    const declared = (await this.deps.engine.declaredEvents?.()) ?? [];
    return [...new Set([...this.deps.catalog.events(), ...declared])].sort();
  }

  private async parkingTtlFor(event: string): Promise<number> {
    const services = new Set(this.deps.catalog.handling(event).map((m) => m.service));
    if (services.size !== 1) return this.deps.options.defaultParkingTtlMs;
    try {
      const coordinates = await this.deps.registry.resolve([...services][0]);
      return coordinates.parkingTtlMs ?? this.deps.options.defaultParkingTtlMs;
    } catch {
      return this.deps.options.defaultParkingTtlMs;
    }
  }
}

/** The one audit entry of a timeout, written when it is signalled or settled unsignalled. */
export function timedOutEntry(
  expectation: Expectation,
  detail: Record<string, unknown>,
): Parameters<Audit>[0] {
  return {
    kind: 'timed-out',
    instanceId: expectation.instanceId,
    invocationId: expectation.invocationId,
    correlationKey: expectation.correlationKey ?? undefined,
    detail: { event: expectation.event, waitState: expectation.waitState, ...detail },
  };
}

function closedReason(expectation: Expectation): 'late' | 'superseded' {
  return expectation.status === 'superseded' ? 'superseded' : 'late';
}

function openFirst(expectations: Expectation[]): Expectation[] {
  return [...expectations].sort(
    (a, b) => Number(b.status === 'open') - Number(a.status === 'open'),
  );
}

function isString(value: string | null): value is string {
  return value !== null;
}
