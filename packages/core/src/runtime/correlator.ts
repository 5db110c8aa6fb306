import type { EntityManager } from 'typeorm';
import type { AdapterRunner } from '../adapter/adapter-runner';
import { PsiError, PsiErrorCode, ResponseValidationError, type FieldViolation } from '../errors';
import type { ProcessEngine } from '../spi/process-engine';
import type { ServiceRegistry } from '../spi/service-registry';
import type { InboundMessage, ReceiveOutcome } from '../spi/transport';
import { answerKeys, lockAnswerKeys } from '../store/answer-locks';
import { ExpectationEntity } from '../store/entities/expectation.entity';
import { InboundMessageEntity } from '../store/entities/inbound-message.entity';
import { InvocationEntity } from '../store/entities/invocation.entity';
import { ParkedMessageEntity } from '../store/entities/parked-message.entity';
import type { AdapterCatalog } from './adapter-catalog';
import type { Audit, AuditLog } from './audit-log';
import type { CompiledCoordinatorOptions } from './coordinator-options';
import type { DeadLetterQueue } from './dead-letter-queue';
import type { KeyedMutex } from './keyed-mutex';
import { overruleInterruption } from './claim-recovery';
import { boundExpectations } from './answer-binding';
import { parkingFull } from './parking-cap';
import { NodeLeases } from './node-leases';
import { PsiSignalIds } from './signal-ids';
import { timeoutsOfEarlierVisits } from './stale-timeouts';
import { messageFromParked, normaliseMessage, type ReceivedMessage } from './received-message';
import type { CoordinatorStats } from './coordinator-stats';
import {
  countRows,
  deleteRows,
  findRow,
  findRows,
  insertRow,
  insertRowReturningId,
  updateRows,
} from '../store/row-statements';

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
  stats: CoordinatorStats;
  /** Tells the deadline scheduler that something is due at `at`. */
  notifyDue(at: number): void;
  /** Tells the other nodes that `instanceId` may have work their engine can deliver. */
  announce(instanceId: string): void;
}

/** A parked answer on its way to delivery: its row, and how long it waited. */
interface ReleasedAnswer {
  seq: number;
  parkedFor: number;
}

type Decision =
  | { kind: 'done'; outcome: ReceiveOutcome }
  | { kind: 'matched'; expectation: ExpectationEntity; message: ReceivedMessage };

/**
 * Receive → dedupe → match → deliver or park, and release on readiness. Every decision that
 * matters (claim, park, dead letter) is a conditional write in the store, so two answers, or an
 * answer and a timeout, can race without either being lost or delivered twice.
 */
export class Correlator {
  constructor(private readonly deps: CorrelatorDeps) {}

  async receive(input: InboundMessage): Promise<ReceiveOutcome> {
    const { options, catalog, stats } = this.deps;
    const message = normaliseMessage(input, catalog, options.clock());
    stats.received++;
    const parkingTtlMs = await this.parkingTtlFor(message.event);
    const decision = await this.deps.audit.transaction<Decision>(async (tx, audit) => {
      const inbound = await this.isDuplicate(tx, message);
      if (inbound === 'duplicate') {
        stats.duplicates++;
        await audit({
          kind: 'duplicate',
          detail: { messageId: message.messageId, event: message.event },
        });
        return { kind: 'done', outcome: { status: 'duplicate' } };
      }
      await audit({
        kind: 'received',
        detail: { messageId: message.messageId, event: message.event, source: message.source },
      });
      // Before looking: an invoke recording the expectation right now must not miss this answer.
      await lockAnswerKeys(
        tx,
        answerKeys(message.event, message.correlationKey, message.businessKeys),
      );
      const matches = await this.findExpectations(tx, message);
      // A repeating expectation being delivered takes this answer next (the instance lock waits).
      const open = matches.filter(
        (e) => e.status === 'open' || (e.repeats && e.status === 'claimed'),
      );
      const fresh = { ...message, inbound };
      // Every outcome but a match is stored in this transaction: remember the id with it. A
      // match is stored (claimed or parked) later, and remembered then.
      if (open.length !== 1) await this.remember(tx, fresh);
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
    if (decision.kind === 'done') return decision.outcome;
    const { expectation, message: matched } = decision;
    const violations = await this.validate(expectation, matched);
    if (violations.length > 0) {
      return this.deps.audit.transaction(async (tx, audit) => {
        await this.remember(tx, matched);
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
   */
  release(instanceId: string): Promise<void> {
    return this.deps.instanceMutex.run(instanceId, () => this.releaseNow(instanceId));
  }

  /**
   * Signals a timeout that already won its claim, if the instance is at the wait state; false
   * when it stays pending (for the next readiness).
   */
  async signalTimeout(expectation: ExpectationEntity): Promise<boolean> {
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
      await updateRows(tx, ExpectationEntity, { id: expectation.id }, { timeoutPending: false });
      await this.completeInvocationIfDone(tx, expectation.invocationId);
      await audit(
        timedOutEntry(expectation, {
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
    expectation: ExpectationEntity,
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
  private async settleStaleTimeout(expectation: ExpectationEntity): Promise<void> {
    await this.deps.audit.transaction(async (tx, audit) => {
      const settled = await updateRows(
        tx,
        ExpectationEntity,
        { id: expectation.id, timeoutPending: true },
        { timeoutPending: false },
      );
      if (settled === 0) return; // another node settled it meanwhile
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

  /** Closes what an ended instance still expected; its parked answers become `late` dead letters. */
  async instanceEnded(instanceId: string): Promise<void> {
    await this.deps.instanceMutex.run(instanceId, () =>
      this.deps.audit.transaction(async (tx, audit) => {
        await updateRows(
          tx,
          ExpectationEntity,
          { instanceId, status: 'open' },
          { status: 'cancelled', closedAt: this.deps.options.clock() },
        );
        const parked = await findRows(
          tx,
          ParkedMessageEntity,
          { instanceId },
          { order: { seq: 'ASC' } },
        );
        for (const row of parked) {
          const removed = await deleteRows(tx, ParkedMessageEntity, { seq: row.seq });
          if (removed === 0) continue;
          await this.deadLetter(
            tx,
            audit,
            messageFromParked(row),
            'late',
            { instanceEnded: true },
            {
              id: row.expectationId ?? null,
              instanceId,
            },
          );
        }
      }),
    );
  }

  private async releaseNow(instanceId: string): Promise<void> {
    // One read for all that waits: timeouts that won while the instance was elsewhere, parked
    // answers in arrival order, and their expectations. Each delivery re-checks its expectation
    // with the conditional claim; what a delivery or a timeout may have changed is read again.
    const waiting = await this.deps.audit.transaction(async (tx) => {
      const pendingTimeouts = await findRows(tx, ExpectationEntity, {
        instanceId,
        status: 'timed-out',
        timeoutPending: true,
      });
      // Engines that keep signal ids are asked instead (timeoutAlreadyTaken).
      const laterVisits =
        pendingTimeouts.length > 0 && !this.deps.engine.hasAppliedSignal
          ? await timeoutsOfEarlierVisits(tx, pendingTimeouts)
          : null;
      const parked = await findRows(
        tx,
        ParkedMessageEntity,
        { instanceId },
        { order: { seq: 'ASC' } },
      );
      const ids = [...new Set(parked.map((row) => row.expectationId).filter(isString))];
      const expectations = ids.length > 0 ? await findRows(tx, ExpectationEntity, { id: ids }) : [];
      return {
        pendingTimeouts,
        laterVisits,
        parked,
        expectations: new Map(expectations.map((e) => [e.id, e])),
      };
    });
    for (const expectation of waiting.pendingTimeouts) {
      if (await this.timeoutAlreadyTaken(expectation, waiting.laterVisits)) {
        await this.settleStaleTimeout(expectation);
      } else await this.signalTimeout(expectation);
    }

    let readAgain = waiting.pendingTimeouts.length > 0;
    for (const row of waiting.parked) {
      const expectationId = row.expectationId;
      if (!expectationId) continue;
      const expectation = readAgain
        ? await this.deps.audit.transaction((tx) =>
            findRow(tx, ExpectationEntity, { id: expectationId }),
          )
        : waiting.expectations.get(expectationId);
      if (!expectation) continue;
      const message = messageFromParked(row);
      if (expectation.status !== 'open') {
        await this.deps.audit.transaction(async (tx, audit) => {
          const removed = await deleteRows(tx, ParkedMessageEntity, { seq: row.seq });
          if (removed === 0) return;
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
          await deleteRows(tx, ParkedMessageEntity, { seq: row.seq });
          await this.deadLetter(tx, audit, message, 'invalid', { violations }, expectation);
        });
        continue;
      }
      await this.deliver(expectation, message, {
        seq: row.seq,
        parkedFor: this.deps.options.clock() - row.receivedAt,
      });
      readAgain = true; // the delivery may have closed other expectations (its group, say)
    }
  }

  private async deliverOrPark(
    expectation: ExpectationEntity,
    message: ReceivedMessage,
  ): Promise<ReceiveOutcome> {
    if ((await this.waitStatesOf(expectation.instanceId)).includes(expectation.waitState)) {
      const delivered = await this.deliver(expectation, message, null);
      // A repeating entry stays: answers parked meanwhile (another node's claim) come next.
      if (expectation.repeats) await this.releaseNow(expectation.instanceId);
      return delivered;
    }
    const outcome = await this.deps.audit.transaction(async (tx, audit) => {
      await this.remember(tx, message);
      // The instance is not at the wait state because a timeout (or a group sibling) closed the
      // expectation and moved it on since we matched: the answer lost; it is late, not parked.
      const current = await findRow(tx, ExpectationEntity, { id: expectation.id });
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
    this.deps.announce(expectation.instanceId);
    // The instance may have arrived while we parked (another node's engine, say): look again.
    if ((await this.waitStatesOf(expectation.instanceId)).includes(expectation.waitState)) {
      await this.releaseNow(expectation.instanceId);
    }
    return outcome;
  }

  private async deliver(
    expectation: ExpectationEntity,
    message: ReceivedMessage,
    parked: ReleasedAnswer | null,
  ): Promise<ReceiveOutcome> {
    try {
      return await this.deliverClaimed(expectation, message, parked);
    } finally {
      this.deps.leases.releaseDelivery(expectation.id);
    }
  }

  private async deliverClaimed(
    expectation: ExpectationEntity,
    message: ReceivedMessage,
    parked: ReleasedAnswer | null,
  ): Promise<ReceiveOutcome> {
    const { audit, engine, runner, catalog, options, stats } = this.deps;
    const claim = await audit.transaction(async (tx, write) => {
      if (parked !== null) {
        await write({
          kind: 'released',
          instanceId: expectation.instanceId,
          invocationId: expectation.invocationId,
          detail: {
            event: message.event,
            waitState: expectation.waitState,
            parkedFor: parked.parkedFor,
          },
        });
        // Several nodes may release the same parked answer: whoever removes it delivers it.
        const taken = await deleteRows(tx, ParkedMessageEntity, { seq: parked.seq });
        if (taken === 0) {
          return { won: false as const, outcome: { status: 'duplicate' as const } };
        }
      }
      await this.remember(tx, message);
      // The claim carries the answer, so a node that dies before delivering it loses nothing.
      const won = await claimExpectation(tx, expectation.id, 'open', {
        status: 'claimed',
        ...this.deps.leases.claimColumns(message),
      });
      if (!won) {
        const current = await tx.findOneByOrFail(ExpectationEntity, { id: expectation.id });
        if (current.repeats && current.status === 'claimed') {
          // Another node delivers this entry's previous answer: this one waits its turn.
          const ttl = current.parkingTtlMs ?? options.defaultParkingTtlMs;
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
      const superseded = await this.supersedeGroup(tx, expectation);
      return { won: true as const, superseded };
    });
    if (!claim.won) return claim.outcome;
    this.deps.leases.holdDelivery(expectation.id);

    const model = catalog.byName(expectation.adapter);
    let outcome;
    try {
      if (!model)
        throw new PsiError(
          PsiErrorCode.AdapterNotFound,
          `Adapter ${expectation.adapter} is no longer registered.`,
        );
      const variables = await engine.getVariables(expectation.instanceId);
      outcome = await runner.handleResponse(model, expectation.event, variables, message.payload);
    } catch (error) {
      return audit.transaction(async (tx, write) => {
        await this.reopen(tx, expectation, claim.superseded);
        const reason = error instanceof ResponseValidationError ? 'invalid' : 'handler-failed';
        return this.deadLetter(tx, write, message, reason, { error: describe(error) }, expectation);
      });
    }

    try {
      await engine.signal(expectation.instanceId, expectation.waitState, {
        variables: outcome.variables,
        transition: outcome.transition,
        signalId: PsiSignalIds.answer(
          expectation.id,
          expectation.repeats ? message.messageId : undefined,
        ),
        activationId: expectation.activationId ?? undefined,
        payload: message.payload,
      });
    } catch (error) {
      // The instance left the wait state between our check and the signal: keep the answer.
      options.logger.warn(
        `Could not signal instance ${expectation.instanceId}; the answer is parked again`,
        describe(error),
      );
      return audit.transaction(async (tx, write) => {
        await this.reopen(tx, expectation, claim.superseded);
        return this.park(
          tx,
          write,
          message,
          expectation,
          expectation.parkingTtlMs ?? options.defaultParkingTtlMs,
        );
      });
    }

    await audit.transaction(async (tx, write) => {
      const kept = await updateRows(
        tx,
        ExpectationEntity,
        { id: expectation.id, status: 'claimed', claimedBy: this.deps.leases.nodeId },
        expectation.repeats
          ? { status: 'open', ...NodeLeases.unclaimed }
          : { status: 'delivered', closedAt: options.clock(), ...NodeLeases.unclaimed },
      );
      // The claim lapsed (this node stalled) and another node settled it as interrupted; the
      // engine took this answer all the same, so the delivery stands.
      if (kept === 0) await overruleInterruption(tx, expectation, options.clock());
      await this.completeInvocationIfDone(tx, expectation.invocationId);
      await write({
        kind: 'delivered',
        instanceId: expectation.instanceId,
        invocationId: expectation.invocationId,
        detail: {
          event: expectation.event,
          waitState: expectation.waitState,
          transition: outcome.transition,
          variables: outcome.variables,
        },
      });
    });
    stats.delivered++;
    return {
      status: 'delivered',
      instanceId: expectation.instanceId,
      expectationId: expectation.id,
    };
  }

  private async park(
    tx: EntityManager,
    audit: Audit,
    message: ReceivedMessage,
    expectation: ExpectationEntity | null,
    ttlMs: number,
  ): Promise<ReceiveOutcome> {
    const { maxParkedPerKey } = this.deps.options;
    if (await parkingFull(tx, message, maxParkedPerKey)) {
      // Junk for a key that never comes must not grow without bound: kept, not parked.
      const where = expectation ?? undefined;
      return this.deadLetter(tx, audit, message, 'parking-full', { maxParkedPerKey }, where);
    }
    const expiresAt = message.receivedAt + ttlMs;
    const parkedId = await insertRowReturningId(tx, ParkedMessageEntity, {
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
    });
    await audit({
      kind: 'parked',
      instanceId: expectation?.instanceId,
      invocationId: expectation?.invocationId,
      detail: {
        event: message.event,
        parkedId: String(parkedId),
        waitingFor: expectation?.waitState ?? 'an expectation',
        expiresAt,
      },
    });
    this.deps.stats.parked++;
    this.deps.notifyDue(expiresAt);
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
    this.deps.stats.deadLettered++;
    return this.deps.deadLetters.add(tx, audit, message, reason, {
      detail,
      instanceId: expectation?.instanceId,
      expectationId: expectation?.id,
    });
  }

  /** Dedupe, read side: a second message with the same id within the window is counted. */
  private async isDuplicate(
    tx: EntityManager,
    message: ReceivedMessage,
  ): Promise<'duplicate' | 'new' | 'seen'> {
    const seen = await findRow(tx, InboundMessageEntity, { messageId: message.messageId });
    if (seen && message.receivedAt - seen.receivedAt < this.deps.options.dedupeWindowMs) {
      await tx.increment(InboundMessageEntity, { messageId: message.messageId }, 'duplicates', 1);
      return 'duplicate';
    }
    return seen ? 'seen' : 'new';
  }

  /**
   * Dedupe, write side: remembers the id in the transaction that stores what became of the
   * message (dead letter, parked, claimed). A node that dies before that commit leaves the id
   * unseen, so the transport's redelivery is handled instead of being ignored as a duplicate.
   */
  private async remember(tx: EntityManager, message: ReceivedMessage): Promise<void> {
    if (message.inbound === 'seen') {
      await updateRows(
        tx,
        InboundMessageEntity,
        { messageId: message.messageId },
        { receivedAt: message.receivedAt },
      );
    } else if (message.inbound === 'new') {
      await insertRow(tx, InboundMessageEntity, {
        messageId: message.messageId,
        receivedAt: message.receivedAt,
        duplicates: 0,
      });
    }
  }

  private async findExpectations(
    tx: EntityManager,
    message: ReceivedMessage,
  ): Promise<ExpectationEntity[]> {
    const event = message.event;
    if (message.correlationKey) {
      const correlationKey = message.correlationKey;
      const byKey = await findRows(tx, ExpectationEntity, { correlationKey, event });
      if (message.boundTo) return openFirst(boundExpectations(byKey, message.boundTo));
      if (byKey.length > 0) return openFirst(byKey);
    }
    if (message.businessKeys.length === 0) return [];
    return openFirst(
      await findRows(tx, ExpectationEntity, { businessKey: message.businessKeys, event }),
    );
  }

  private async validate(
    expectation: ExpectationEntity,
    message: ReceivedMessage,
  ): Promise<FieldViolation[]> {
    const model = this.deps.catalog.byName(expectation.adapter);
    return model
      ? this.deps.runner.validateResponse(model, expectation.event, message.payload)
      : [];
  }

  private async supersedeGroup(
    tx: EntityManager,
    expectation: ExpectationEntity,
  ): Promise<string[]> {
    if (!expectation.groupId) return [];
    const siblings = await tx
      .createQueryBuilder(ExpectationEntity, 'e')
      .where('e.invocationId = :inv AND e.groupId = :group AND e.id != :id AND e.status = :open', {
        inv: expectation.invocationId,
        group: expectation.groupId,
        id: expectation.id,
        open: 'open',
      })
      .getMany();
    const closed: string[] = [];
    for (const sibling of siblings) {
      if (
        await claimExpectation(tx, sibling.id, 'open', {
          status: 'superseded',
          closedAt: this.deps.options.clock(),
        })
      ) {
        closed.push(sibling.id);
      }
    }
    return closed;
  }

  private async reopen(
    tx: EntityManager,
    expectation: ExpectationEntity,
    superseded: string[],
  ): Promise<void> {
    await claimExpectation(tx, expectation.id, 'claimed', {
      status: 'open',
      ...NodeLeases.unclaimed,
    });
    for (const id of superseded)
      await claimExpectation(tx, id, 'superseded', { status: 'open', closedAt: null });
  }

  /** Marks the invocation completed once none of its expectations is open or claimed. */
  async completeInvocationIfDone(tx: EntityManager, invocationId: string): Promise<void> {
    const unsettled = await countRows(tx, ExpectationEntity, {
      invocationId,
      status: ['open', 'claimed'],
    });
    if (unsettled === 0) {
      await updateRows(
        tx,
        InvocationEntity,
        { id: invocationId, status: 'waiting' },
        { status: 'completed', updatedAt: this.deps.options.clock() },
      );
    }
  }

  private async waitStatesOf(instanceId: string): Promise<readonly string[]> {
    try {
      return await this.deps.engine.getWaitStates(instanceId);
    } catch (error) {
      if (PsiError.is(error) && error.code === PsiErrorCode.InstanceNotFound) return [];
      throw error;
    }
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

/** Conditional status change: the one primitive every race in PSI is decided by. */
export async function claimExpectation(
  tx: EntityManager,
  id: string,
  fromStatus: ExpectationEntity['status'],
  changes: Partial<ExpectationEntity>,
): Promise<boolean> {
  return (await updateRows(tx, ExpectationEntity, { id, status: fromStatus }, changes)) > 0;
}

/** The audit entry of a timeout: claimed by the scheduler, signalled, or settled unsignalled. */
export function timedOutEntry(
  expectation: ExpectationEntity,
  detail: Record<string, unknown>,
): Parameters<Audit>[0] {
  return {
    kind: 'timed-out',
    instanceId: expectation.instanceId,
    invocationId: expectation.invocationId,
    detail: { event: expectation.event, waitState: expectation.waitState, ...detail },
  };
}

function closedReason(expectation: ExpectationEntity): 'late' | 'superseded' {
  return expectation.status === 'superseded' ? 'superseded' : 'late';
}

function openFirst(expectations: ExpectationEntity[]): ExpectationEntity[] {
  return [...expectations].sort(
    (a, b) => Number(b.status === 'open') - Number(a.status === 'open'),
  );
}

function isSignalRejected(error: unknown): boolean {
  return PsiError.is(error) && error.code === PsiErrorCode.EngineSignalRejected;
}

export function describe(error: unknown): unknown {
  if (PsiError.is(error)) return error.toJSON();
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { message: String(error) };
}

function isString(value: string | null): value is string {
  return value !== null;
}
