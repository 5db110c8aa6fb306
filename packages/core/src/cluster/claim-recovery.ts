import type { ProcessEngine } from '../spi/process-engine';
import { PsiError, PsiErrorCode } from '../errors';
import type { Expectation } from '../records/expectations';
import { answerSignalId, type DeliveryRunner, type HeldClaim } from '../correlation/delivery';
import type { KeyedMutex } from '../runtime/keyed-mutex';
import type { NodeLeases } from './node-leases';
import type { ReceivedMessage } from '../correlation/received-message';

/** What recovery did with one claim a stopped node left. */
export type ClaimRecoveryResult =
  /** The engine had taken the answer: recorded as delivered, the handler not run again. */
  | 'recorded'
  /** The handler ran again (same delivery id) and the engine took the answer. */
  | 'redelivered'
  /** Finished otherwise: the instance had moved on without the answer (`late`), or the handler failed. */
  | 'dead-lettered'
  /** Left alone: another node took it first, or this node's engine does not know the instance. */
  | 'skipped';

/**
 * Finishes deliveries a stopped node left half done: the expectation is `claimed` by a node that
 * died (or by this node's own earlier process), with the answer and the delivery's id in the
 * claim. A claim is a commitment: its answer has won its group and its race against the
 * deadline, so recovery never reopens them. It takes the claim over (a conditional update
 * against the claim as it was read) and asks the engine:
 *
 * - the engine took the answer's signal (an engine that keeps signal ids knows, even when the
 *   instance has come back to the same wait state since; for one that does not, the instance
 *   having left the wait state stands for it): recorded as `delivered`, the handler is not run;
 * - the instance still waits there: the delivery is finished, the handler runs again with the
 *   same delivery id (handlers run at least once and key their side effects on it) and the
 *   engine is signalled under the same signal id;
 * - the instance has left the wait state and did not take the answer (a signal from outside
 *   moved it on): the expectation is `cancelled` and the answer a `late` dead letter.
 *
 * An instance this node's engine does not know (an engine whose instances live in one node) is
 * left to a node whose engine does.
 */
export class ClaimRecovery {
  constructor(
    private readonly deps: {
      engine: ProcessEngine;
      delivery: DeliveryRunner;
      leases: NodeLeases;
      instanceMutex: KeyedMutex;
    },
  ) {}

  finish(expectation: Expectation): Promise<ClaimRecoveryResult> {
    return this.deps.instanceMutex.run(expectation.instanceId, () => this.finishNow(expectation));
  }

  private async finishNow(expectation: Expectation): Promise<ClaimRecoveryResult> {
    const { engine, leases, delivery } = this.deps;
    let states: readonly string[];
    try {
      states = await engine.getWaitStates(expectation.instanceId);
    } catch (error) {
      if (PsiError.is(error) && error.code === PsiErrorCode.InstanceNotFound) return 'skipped';
      throw error;
    }
    const deliveryId = await leases.takeOverClaim(expectation);
    if (deliveryId === undefined) return 'skipped';
    try {
      const claim: HeldClaim = {
        expectation,
        message: parseMessage(expectation.claimedMessage),
        deliveryId,
        redelivered: true,
        interruptedNode: expectation.claimedBy,
      };
      const atWaitState = states.includes(expectation.waitState);
      const taken = await this.answerTaken(claim);
      if (taken === 'unknown' ? !atWaitState : taken) {
        return (await delivery.recordTaken(claim)) ? 'recorded' : 'skipped';
      }
      if (expectation.claimedMessage === null) {
        // A claim from before claims carried their answer: its deadline or a replay decides.
        await delivery.giveBackUnknown(claim);
        return 'skipped';
      }
      if (!atWaitState) {
        const outcome = await delivery.lost(claim, {
          note: 'the node delivering this answer stopped after claiming it, and the instance left the wait state without it',
        });
        return outcome.status === 'dead-lettered' ? 'dead-lettered' : 'skipped';
      }
      const outcome = await delivery.complete(claim);
      return outcome.status === 'delivered' ? 'redelivered' : 'dead-lettered';
    } finally {
      leases.releaseDelivery(expectation.id);
    }
  }

  /** Whether the engine took the claimed answer's signal; `unknown` without signal ids. */
  private async answerTaken(claim: HeldClaim): Promise<boolean | 'unknown'> {
    const engine = this.deps.engine;
    if (!engine.hasAppliedSignal) return 'unknown';
    return engine.hasAppliedSignal(
      claim.expectation.instanceId,
      answerSignalId(claim.expectation, claim.message),
    );
  }
}

/** The claimed answer; a claim from before claims carried their answer has an empty one. */
function parseMessage(json: string | null): ReceivedMessage {
  if (json !== null) return JSON.parse(json) as ReceivedMessage;
  return {
    messageId: '',
    sender: '',
    event: '',
    correlationKey: null,
    businessKeys: [],
    payload: undefined,
    payloadText: null,
    source: null,
    receivedAt: 0,
    traceParent: null,
    traceState: null,
  };
}
