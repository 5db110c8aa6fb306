import type { PsiLogger } from '../logging/psi-logger';
import type { EntityManager } from 'typeorm';
import type { AdapterRunner } from '../adapter/adapter-runner';
import {
  BusinessError,
  PsiError,
  PsiErrorCode,
  ResponseValidationError,
  type PsiError as PsiErrorType,
} from '../errors';
import type { ProcessEngine, SignalOptions, Variables } from '../spi/process-engine';
import type { DeadLetterReason, ReceiveOutcome } from '../spi/transport';
import {
  cancelClaim,
  expectationById,
  giveBackClaim,
  markDelivered,
  reopenUnknownClaim,
  type Expectation,
  type HeldClaimKey,
} from '../records/expectations';
import type { AdapterCatalog } from '../runtime/adapter-catalog';
import type { Audit, AuditLog } from '../records/audit-log';
import type { CompiledCoordinatorOptions } from '../runtime/coordinator-options';
import type { Instrumentation } from '../observability/instrumentation';
import type { DeadLetterQueue } from '../records/dead-letters';
import type { NodeLeases } from '../cluster/node-leases';
import type { ReceivedMessage } from './received-message';
import type { EndedInstances } from './ended-instances';
import type { EngineStateCarry } from '../store/psi-store';
import { describe, isSignalRejected } from '../runtime/describe-error';
import { PsiSignalIds } from '../runtime/signal-ids';

export interface DeliveryDeps {
  options: CompiledCoordinatorOptions;
  audit: AuditLog;
  engine: ProcessEngine;
  catalog: AdapterCatalog;
  runner: AdapterRunner;
  deadLetters: DeadLetterQueue;
  leases: NodeLeases;
  instrumentation: Instrumentation;
  /** Marks the invocation completed once none of its expectations is open or claimed. */
  completeInvocationIfDone(tx: EntityManager, invocationId: string): Promise<void>;
  /** Settles what an instance the delivery ended leaves behind, with the delivery's record. */
  ended: EndedInstances;
}

/** A claim this node holds: the expectation, the answer it carries and the delivery's id. */
export interface HeldClaim {
  expectation: Expectation;
  message: ReceivedMessage;
  deliveryId: string;
  /** Recovery finishes a delivery a stopped node started (the handler may have run). */
  redelivered: boolean;
  /** The node that started the delivery and stopped, when recovery finishes it. */
  interruptedNode?: string | null;
}

/** What the handler made of the answer: how to signal the engine, and what to record. */
interface Handled {
  signal: SignalOptions;
  detail: Record<string, unknown>;
}

/**
 * Runs a claimed delivery to its end: the handler (with the delivery's stable id), the engine's
 * signal, the record. A claim is a commitment: once recorded, its answer has won its group and
 * its race against the deadline, so the normal path never reopens them. Only a handler that
 * fails (or an engine that fails other than by refusing) gives the expectation back, as before,
 * with a dead letter saying why. Every record is conditional on this node still holding the
 * claim with this delivery id: a node that stalled past its claim while another finished the
 * delivery changes nothing.
 */
export class DeliveryRunner {
  constructor(private readonly deps: DeliveryDeps) {}

  async complete(claim: HeldClaim): Promise<ReceiveOutcome> {
    const { leases, instrumentation } = this.deps;
    leases.holdDelivery(claim.expectation.id);
    try {
      return await instrumentation.deliver(claim.message, claim.expectation, claim, () =>
        this.run(claim),
      );
    } finally {
      leases.releaseDelivery(claim.expectation.id);
    }
  }

  private run(claim: HeldClaim): Promise<ReceiveOutcome> {
    // The engine's state after the signal commits with the record of the delivery (or of its
    // failure): one commit, and no crash between the two.
    return this.deps.audit.carryingEngineStates((carry) => this.signalAndRecord(claim, carry));
  }

  private async signalAndRecord(
    claim: HeldClaim,
    carry: EngineStateCarry,
  ): Promise<ReceiveOutcome> {
    const { engine, options } = this.deps;
    const { expectation } = claim;
    let handled: Handled;
    try {
      handled = await this.handle(claim);
    } catch (error) {
      const reason = error instanceof ResponseValidationError ? 'invalid' : 'handler-failed';
      return this.giveBack(claim, reason, error, carry);
    }
    try {
      await engine.signal(expectation.instanceId, expectation.waitState, {
        ...handled.signal,
        signalId: answerSignalId(expectation, claim.message),
        activationId: expectation.activationId ?? undefined,
        payload: claim.message.payload,
      });
    } catch (error) {
      if (!isSignalRejected(error)) {
        claimLog(options.logger, claim).warn(
          { err: describe(error) },
          `Could not signal instance ${expectation.instanceId} with "${expectation.event}"; the answer is dead-lettered handler-failed`,
        );
        return this.giveBack(claim, 'handler-failed', error, carry);
      }
      // The instance left the wait state between the check and the signal (an engine timer or
      // a signal from outside moved it): an expected race, and the answer lost it.
      claimLog(options.logger, claim).debug(
        { err: describe(error) },
        `Instance ${expectation.instanceId} left "${expectation.waitState}" before it took "${expectation.event}"; the answer is dead-lettered late`,
      );
      return this.lost(
        claim,
        {
          handlerRan: true,
          currentStates: (error as { currentStates?: unknown }).currentStates,
          note: 'the handler ran, and the instance left the wait state before it took the answer',
        },
        carry,
      );
    }
    // The signal may have ended the instance: its leftovers settle in the same commit as its
    // final state and the record (else the instance-ended event settles them, as before).
    const ended = await this.deps.ended.hasEnded(expectation.instanceId).catch(() => false);
    return this.recordDelivered(claim, handled, carry, ended);
  }

  /**
   * Recovery found that the engine took the answer's signal before the delivering node
   * stopped: recorded as delivered, without running the handler again.
   */
  async recordTaken(claim: HeldClaim): Promise<boolean> {
    const { expectation } = claim;
    return this.record(claim, {
      event: expectation.event,
      waitState: expectation.waitState,
      recovered: true,
      interruptedNode: claim.interruptedNode ?? null,
      // Claims from before claims carried their answer have none.
      ...(claim.message.messageId ? { messageId: claim.message.messageId } : {}),
      deliveryId: claim.deliveryId,
    });
  }

  /** The claim of an answer nobody knows any more (a claim from before claims carried it). */
  async giveBackUnknown(claim: HeldClaim): Promise<void> {
    await this.deps.audit.transaction((tx) => reopenUnknownClaim(tx, this.held(claim)));
  }

  /** Runs the handler; a BusinessError becomes the process's transition or fault. */
  private async handle(claim: HeldClaim): Promise<Handled> {
    const { catalog, engine, runner } = this.deps;
    const { expectation, message, deliveryId, redelivered } = claim;
    const model = catalog.byName(expectation.adapter);
    if (!model) {
      throw new PsiError(
        PsiErrorCode.AdapterNotFound,
        `Adapter ${expectation.adapter} is no longer registered.`,
      );
    }
    const variables: Variables = await engine.getVariables(expectation.instanceId);
    const started = performance.now();
    try {
      const outcome = await runner.handleResponse(
        model,
        expectation.event,
        variables,
        message.payload,
        {
          deliveryId,
          messageId: message.messageId,
          event: expectation.event,
          instanceId: expectation.instanceId,
          redelivered,
        },
      );
      return {
        signal: { variables: outcome.variables, transition: outcome.transition },
        detail: { transition: outcome.transition, variables: outcome.variables },
      };
    } catch (error) {
      if (!BusinessError.is(error)) throw error;
      return businessOutcome(error);
    } finally {
      this.deps.instrumentation.handled(expectation.event, performance.now() - started);
    }
  }

  private async recordDelivered(
    claim: HeldClaim,
    handled: Handled,
    carry: EngineStateCarry,
    ended: boolean,
  ): Promise<ReceiveOutcome> {
    const { expectation } = claim;
    const recorded = await this.record(
      claim,
      {
        event: expectation.event,
        waitState: expectation.waitState,
        ...handled.detail,
        messageId: claim.message.messageId,
        deliveryId: claim.deliveryId,
        ...(claim.redelivered ? { redelivered: true, interruptedNode: claim.interruptedNode } : {}),
      },
      carry,
      ended,
    );
    return recorded ? delivered(expectation) : this.takenOver(expectation);
  }

  /** Records the held claim as delivered, with its one `delivered` audit entry. */
  private async record(
    claim: HeldClaim,
    detail: Record<string, unknown>,
    carry?: EngineStateCarry,
    ended = false,
  ): Promise<boolean> {
    const { audit, options, instrumentation, completeInvocationIfDone } = this.deps;
    const { expectation } = claim;
    const recorded = await audit.transaction(async (tx, write) => {
      const held = this.held(claim);
      if (!(await markDelivered(tx, held, expectation.repeats, options.clock()))) return false;
      await completeInvocationIfDone(tx, expectation.invocationId);
      if (ended) await this.deps.ended.settleWithDelivery(tx, write, expectation.instanceId);
      write.afterCommit(() => instrumentation.delivered(expectation));
      await write({
        kind: 'delivered',
        instanceId: expectation.instanceId,
        invocationId: expectation.invocationId,
        correlationKey: claim.message.correlationKey ?? expectation.correlationKey ?? undefined,
        detail,
      });
      return true;
    }, carry);
    return recorded;
  }

  /**
   * The handler failed (or the engine did, other than by refusing): the expectation and the
   * group it closed are open again, the answer a dead letter with the error (replay delivers it).
   */
  private async giveBack(
    claim: HeldClaim,
    reason: Extract<DeadLetterReason, 'invalid' | 'handler-failed'>,
    error: unknown,
    carry?: EngineStateCarry,
  ): Promise<ReceiveOutcome> {
    const { expectation } = claim;
    const outcome = await this.deps.audit.transaction(async (tx, write) => {
      if (!(await giveBackClaim(tx, this.held(claim), expectation))) return undefined;
      return this.deadLetter(tx, write, claim, reason, {
        error: describe(error),
        deliveryId: claim.deliveryId,
      });
    }, carry);
    return outcome ?? this.takenOver(expectation);
  }

  /**
   * The instance left the wait state without the answer: the expectation is cancelled (its
   * group stays closed: this answer won it) and the answer is `late`, with `detail`.
   */
  async lost(
    claim: HeldClaim,
    detail: Record<string, unknown>,
    carry?: EngineStateCarry,
  ): Promise<ReceiveOutcome> {
    const { audit, options, completeInvocationIfDone } = this.deps;
    const { expectation } = claim;
    const outcome = await audit.transaction(async (tx, write) => {
      if (!(await cancelClaim(tx, this.held(claim), options.clock()))) return undefined;
      await completeInvocationIfDone(tx, expectation.invocationId);
      return this.deadLetter(tx, write, claim, 'late', {
        ...detail,
        deliveryId: claim.deliveryId,
        ...(claim.redelivered ? { interruptedNode: claim.interruptedNode } : {}),
      });
    }, carry);
    return outcome ?? this.takenOver(expectation);
  }

  private deadLetter(
    tx: EntityManager,
    write: Audit,
    claim: HeldClaim,
    reason: DeadLetterReason,
    detail: Record<string, unknown>,
  ): Promise<ReceiveOutcome> {
    write.afterCommit(() =>
      this.deps.instrumentation.deadLettered(claim.message, reason, claim.expectation),
    );
    return this.deps.deadLetters.add(tx, write, claim.message, reason, {
      detail: { waitState: claim.expectation.waitState, ...detail },
      instanceId: claim.expectation.instanceId,
      expectationId: claim.expectation.id,
      invocationId: claim.expectation.invocationId,
    });
  }

  /** The row as long as this node holds the claim for this delivery. */
  private held(claim: HeldClaim): HeldClaimKey {
    return {
      id: claim.expectation.id,
      claimedBy: this.deps.leases.nodeId,
      deliveryId: claim.deliveryId,
    };
  }

  /**
   * Another node took the claim over (this one stalled past it) and answers for the delivery;
   * the engine applies the answer's signal once, whoever sends it.
   */
  private async takenOver(expectation: Expectation): Promise<ReceiveOutcome> {
    const current = await this.deps.audit.transaction((tx) => expectationById(tx, expectation.id));
    return current?.status === 'delivered' ? delivered(expectation) : { status: 'duplicate' };
  }
}

/**
 * The signal id of an answer's delivery: one per expectation; an expectation that repeats takes
 * several answers, each its own signal (named by the answer's message id).
 */
export function answerSignalId(expectation: Expectation, message: ReceivedMessage): string {
  return PsiSignalIds.answer(expectation.id, expectation.repeats ? message.messageId : undefined);
}

function delivered(expectation: Expectation): ReceiveOutcome {
  return { status: 'delivered', instanceId: expectation.instanceId, expectationId: expectation.id };
}

/** A BusinessError from a handler: its transition, else a fault with its code. */
function businessOutcome(error: PsiErrorType & { transition?: string }): Handled {
  const businessError = { code: error.code, message: error.message };
  return error.transition
    ? {
        signal: { transition: error.transition },
        detail: { transition: error.transition, businessError },
      }
    : { signal: { fault: businessError }, detail: { fault: error.code, businessError } };
}

/** The logger of one delivery: bound to its instance, invocation, key, message and event. */
function claimLog(logger: PsiLogger, claim: HeldClaim): PsiLogger {
  const { expectation, message } = claim;
  return logger.child({
    instanceId: expectation.instanceId,
    invocationId: expectation.invocationId,
    correlationKey: message.correlationKey ?? expectation.correlationKey ?? undefined,
    messageId: message.messageId,
    event: expectation.event,
  });
}
