import { createHash } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { PsiError, PsiErrorCode } from '../errors';
import type { Audit, AuditLog } from '../records/audit-log';
import type { DeadLetterQueue } from '../records/dead-letters';
import type { InboundDedupe } from '../records/inbound-ids';
import { describe } from '../runtime/describe-error';
import type { Instrumentation } from '../observability/instrumentation';
import type { KeyedMutex } from '../runtime/keyed-mutex';
import type { MessageStart, ProcessEngine, Variables } from '../spi/process-engine';
import type { ReceiveOutcome } from '../spi/transport';
import type { ReceivedMessage } from './received-message';

/** The receive transaction's verdict for a message that starts a process (see MessageStarts). */
export interface StartDecision {
  kind: 'start';
  message: ReceivedMessage;
  start: MessageStart;
}

export interface MessageStartsDeps {
  engine: ProcessEngine;
  audit: AuditLog;
  dedupe: InboundDedupe;
  instanceMutex: KeyedMutex;
  instrumentation: Instrumentation;
  /** The correlator's dead letter (counts it, links it). */
  deadLetter(
    tx: EntityManager,
    audit: Audit,
    message: ReceivedMessage,
    reason: Parameters<DeadLetterQueue['add']>[3],
    detail: Record<string, unknown>,
  ): Promise<ReceiveOutcome>;
}

/**
 * Inbound messages that start a process (BPMN message and signal start events), through the
 * same receive path as answers: dedupe, dead letters and audit are the correlator's.
 *
 * Precedence: a message that matches an expectation (a waiting instance, or a closed one: late)
 * goes there; a message with a correlation key is an answer for one instance and never starts
 * one; only a message that matches none, carries no correlation key and whose event starts
 * exactly one process starts it (several: an `ambiguous` dead letter naming them; none: parked
 * or dead-lettered as before).
 *
 * Exactly once per message id: the engine's state and PSI's store are not one transaction, so
 * the instance id is derived from the message's (sender, id). The start runs first, then the
 * message id is remembered with the `started` audit entry in one transaction. A crash in
 * between leaves the id unseen: the redelivery finds the instance under the same id and only
 * records it. Same-node redeliveries are serialised on that id (the later one finds the id
 * remembered: a duplicate); a redelivery racing on another
 * node meets the engine's "instance exists" refusal, finds the instance and records it too. A
 * redelivery after the dedupe window still finds the instance (unless retention removed it).
 */
export class MessageStarts {
  constructor(private readonly deps: MessageStartsDeps) {}

  /**
   * The processes the message's event starts; empty when the engine has no message starts, or
   * when the message is addressed to an instance (a correlation key, a callback token's
   * binding): it is an answer, parked until its instance waits, as before; starting another
   * instance would race the expectation its instance is about to record.
   */
  async of(message: ReceivedMessage): Promise<readonly MessageStart[]> {
    const { engine } = this.deps;
    if (!engine.messageStarts || !engine.startByMessage) return [];
    if (message.correlationKey !== null || message.boundTo) return [];
    return (await engine.messageStarts()).filter((start) => start.event === message.event);
  }

  /**
   * In the receive transaction, for a message no expectation matches and `starts` is not empty:
   * several processes → an `ambiguous` dead letter (id remembered with it); one → a start.
   */
  async decide(
    tx: EntityManager,
    audit: Audit,
    message: ReceivedMessage,
    starts: readonly MessageStart[],
  ): Promise<StartDecision | { kind: 'done'; outcome: ReceiveOutcome }> {
    if (starts.length === 1) return { kind: 'start', message, start: starts[0] };
    await this.deps.dedupe.remember(tx, message);
    const candidates = starts.map((s) => ({
      definitionId: s.definitionId,
      startEvent: s.startEvent,
    }));
    return {
      kind: 'done',
      outcome: await this.deps.deadLetter(tx, audit, message, 'ambiguous', { candidates }),
    };
  }

  /** Starts the instance (once), then records it with the message id. */
  run({ message, start }: StartDecision): Promise<ReceiveOutcome> {
    const instanceId = messageStartInstanceId(message);
    // Not the instance's own lock: the engine's events for the new instance take that one.
    return this.deps.instanceMutex.run(`message-start:${instanceId}`, async () => {
      let already = await this.exists(instanceId);
      let failure: unknown;
      if (!already) {
        try {
          await this.deps.engine.startByMessage!(message.event, variablesOf(message.payload), {
            instanceId,
            payload: message.payload,
          });
        } catch (error) {
          // Another node started it meanwhile (the engine refused the id): it is started.
          already = await this.exists(instanceId);
          if (!already) failure = error;
        }
      }
      return this.deps.audit.transaction(async (tx, audit) => {
        // The same message received twice at once: the first recorded it while this one queued.
        if ((await this.deps.dedupe.check(tx, message)).kind === 'duplicate') {
          audit.afterCommit(() => this.deps.instrumentation.duplicate(message));
          await audit({
            kind: 'duplicate',
            detail: { messageId: message.messageId, event: message.event },
          });
          return { status: 'duplicate' };
        }
        await this.deps.dedupe.remember(tx, message);
        if (failure !== undefined) {
          return this.deps.deadLetter(tx, audit, message, 'handler-failed', {
            definitionId: start.definitionId,
            startEvent: start.startEvent,
            error: describe(failure),
          });
        }
        await audit({
          kind: 'started',
          instanceId,
          correlationKey: message.correlationKey ?? undefined,
          messageId: message.messageId,
          detail: {
            event: message.event,
            definitionId: start.definitionId,
            startEvent: start.startEvent,
            source: message.source,
            // A crash (or another node) came between the start and this record.
            ...(already ? { startedBefore: true } : {}),
          },
        });
        return { status: 'started', instanceId, definitionId: start.definitionId };
      });
    });
  }

  private async exists(instanceId: string): Promise<boolean> {
    try {
      await this.deps.engine.getVariables(instanceId);
      return true;
    } catch (error) {
      if (PsiError.is(error) && error.code === PsiErrorCode.InstanceNotFound) return false;
      throw error;
    }
  }
}

/**
 * The instance a message starts, derived from its (sender, id): the same message always names
 * the same instance, which is what makes a start after a crash recognisable.
 */
export function messageStartInstanceId(message: { sender: string; messageId: string }): string {
  const digest = createHash('sha256')
    .update(`${message.sender}\u0000${message.messageId}`)
    .digest('base64url')
    .slice(0, 32);
  return `msg-${digest}`;
}

/** A JSON object payload becomes the instance's variables; anything else starts with none. */
function variablesOf(payload: unknown): Variables {
  return typeof payload === 'object' && payload !== null && !Array.isArray(payload)
    ? { ...(payload as Variables) }
    : {};
}
