import { createHash } from 'node:crypto';
import type { Context } from '@opentelemetry/api';
import type { MESSAGE_CONTEXT } from '../observability/span-attributes';
import { InboundMessageError } from '../errors';
import type { AnswerBinding, InboundMessage } from '../spi/transport';
import type { ParkedAnswer } from '../records/parked-answers';
import type { AdapterCatalog } from '../runtime/adapter-catalog';
import { canonicalBusinessKey, pickFields } from '../runtime/business-key';

/** An inbound message as the coordinator works with it: id settled, keys computed. */
export interface ReceivedMessage {
  messageId: string;
  /** The namespace of `messageId` (see `InboundMessage.sender`); '' when none was given. */
  sender: string;
  event: string;
  correlationKey: string | null;
  /** Canonical business keys the payload could match (one per distinct key definition). */
  businessKeys: string[];
  payload: unknown;
  payloadText: string | null;
  source: string | null;
  receivedAt: number;
  /** The instance and wait state a callback token bound the answer to (matched by key only). */
  boundTo?: AnswerBinding;
  /**
   * Dedupe bookkeeping still to write for a message just received: its id is `new`, or `seen`
   * outside the window. Written with the message's outcome (see Correlator), so a node that dies
   * before that commit leaves the id unseen. Unset for parked and dead-lettered messages.
   */
  inbound?: 'new' | 'seen';
  /** The answer's receive span (W3C strings; null without tracing), stored when it is parked. */
  traceParent: string | null;
  traceState: string | null;
  /** In memory only (JSON leaves symbols out): the span context its later spans hang under. */
  [MESSAGE_CONTEXT]?: Context;
}

export function normaliseMessage(
  input: InboundMessage,
  catalog: AdapterCatalog,
  now: number,
): ReceivedMessage {
  if (typeof input?.event !== 'string' || input.event.length === 0) {
    throw new InboundMessageError('"event" must be a non-empty string');
  }
  let payloadText: string | null;
  try {
    payloadText = input.payload === undefined ? null : JSON.stringify(input.payload);
  } catch (error) {
    throw new InboundMessageError(`payload is not serialisable to JSON: ${String(error)}`);
  }
  const correlationKey = input.correlationKey ? String(input.correlationKey) : null;
  // An empty id is no id (as HTTP and Kafka read it): derived ids make a re-sent identical
  // message a duplicate even when the sender has no ids.
  const messageId =
    input.messageId ||
    createHash('sha256')
      .update(`${input.event}\u0000${correlationKey ?? ''}\u0000${payloadText ?? ''}`)
      .digest('base64url');
  return {
    messageId,
    sender: input.sender ?? '',
    event: input.event,
    correlationKey,
    businessKeys: businessKeysOf(input, catalog),
    payload: input.payload,
    payloadText,
    source: input.source ?? null,
    receivedAt: now,
    traceParent: null,
    traceState: null,
    ...(input.boundTo ? { boundTo: input.boundTo } : {}),
  };
}

/** The canonical business keys of a message: its explicit one, or those its handlers take from the payload. */
export function businessKeysOf(input: InboundMessage, catalog: AdapterCatalog): string[] {
  // A bound answer (a callback token's) is matched by its correlation key alone.
  if (input.boundTo) return [];
  if (input.businessKey) return [canonicalBusinessKey(input.businessKey)];
  const keys = new Set<string>();
  for (const model of catalog.answering(input.event)) {
    const fields = model.handlers.get(input.event)?.businessKey;
    if (!fields) continue;
    const picked = pickFields(input.payload, Object.keys(fields));
    if (picked) keys.add(canonicalBusinessKey(picked));
  }
  return [...keys];
}

export function messageFromParked(row: ParkedAnswer): ReceivedMessage {
  return {
    messageId: row.messageId,
    // Parked answers were remembered when they were parked: their sender no longer matters.
    sender: '',
    event: row.event,
    correlationKey: row.correlationKey,
    businessKeys: row.businessKey ? [row.businessKey] : [],
    payload: row.payload === null ? undefined : (JSON.parse(row.payload) as unknown),
    payloadText: row.payload,
    source: row.source,
    receivedAt: row.receivedAt,
    traceParent: row.traceParent,
    traceState: row.traceState,
  };
}
