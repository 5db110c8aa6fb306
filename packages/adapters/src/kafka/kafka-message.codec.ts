import {
  readTraceHeaders,
  type InboundMessage,
  type OutboundRequest,
  type TraceHeaders,
} from '@psi/core';
import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import { PsiKafkaHeader, UNKNOWN_KAFKA_EVENT } from './psi-kafka-header';

/**
 * The wire format of PSI over Kafka, in one place.
 *
 * - Request: key = correlation key; value = JSON `{ operation, payload }`; headers
 *   `x-psi-correlation-key`, `x-psi-message-id` (= request id), `x-psi-operation`, `x-psi-reply-to`.
 * - Answer: key = correlation key; value = JSON `{ event, payload }`; headers
 *   `x-psi-correlation-key`, `x-psi-message-id`, `x-psi-event`.
 * - An undefined payload travels as `null` (JSON has no undefined).
 *
 * Decoding is lenient so that foreign producers can answer: the event may be a header or a field
 * of the value; a JSON value that is not an object with a `payload` field is the payload itself;
 * a value that is not JSON becomes the payload as a string, with the event from the header or
 * {@link UNKNOWN_KAFKA_EVENT} — the coordinator then dead-letters it, visibly, instead of the
 * transport dropping it. Without `x-psi-message-id` the id is `${topic}:${partition}:${offset}`,
 * stable across redeliveries.
 */
export const KafkaMessageCodec = {
  encodeRequest(request: OutboundRequest, replyTo: string | undefined): Message {
    const headers: IHeaders = {
      [PsiKafkaHeader.CorrelationKey]: request.correlationKey,
      [PsiKafkaHeader.MessageId]: request.requestId,
      [PsiKafkaHeader.Operation]: request.operation,
    };
    if (replyTo) headers[PsiKafkaHeader.ReplyTo] = replyTo;
    // W3C Trace Context of the send span (traceparent, tracestate), made by the coordinator.
    Object.assign(headers, request.traceHeaders);
    return {
      key: request.correlationKey,
      value: JSON.stringify({ operation: request.operation, payload: request.payload ?? null }),
      headers,
    };
  },

  encodeAnswer(answer: {
    event: string;
    payload: unknown;
    messageId: string;
    correlationKey: string | undefined;
    /** The answer's W3C Trace Context (`traceparent`, `tracestate`). */
    traceHeaders?: TraceHeaders;
  }): Message {
    const headers: IHeaders = {
      ...answer.traceHeaders,
      [PsiKafkaHeader.MessageId]: answer.messageId,
      [PsiKafkaHeader.Event]: answer.event,
    };
    if (answer.correlationKey !== undefined)
      headers[PsiKafkaHeader.CorrelationKey] = answer.correlationKey;
    return {
      key: answer.correlationKey ?? null,
      value: JSON.stringify({ event: answer.event, payload: answer.payload ?? null }),
      headers,
    };
  },

  decodeAnswer(topic: string, partition: number, message: KafkaMessage): InboundMessage {
    const body = decodeValue(message.value);
    const event =
      header(message.headers, PsiKafkaHeader.Event) ??
      (typeof body.envelope?.event === 'string' && body.envelope.event !== ''
        ? body.envelope.event
        : undefined);
    const traceHeaders = readTraceHeaders((name) => header(message.headers, name));
    return {
      messageId:
        header(message.headers, PsiKafkaHeader.MessageId) ?? derivedId(topic, partition, message),
      event: event ?? UNKNOWN_KAFKA_EVENT,
      correlationKey: header(message.headers, PsiKafkaHeader.CorrelationKey),
      payload: body.payload,
      source: `kafka:${topic}/${partition}@${message.offset}`,
      sender: `kafka:${topic}`,
      ...(Object.keys(traceHeaders).length > 0 ? { traceHeaders } : {}),
    };
  },

  /** The parts of a request as a service sees them. */
  decodeRequest(
    topic: string,
    partition: number,
    message: KafkaMessage,
  ): {
    requestId: string;
    correlationKey: string | undefined;
    operation: string | undefined;
    replyTo: string | undefined;
    payload: unknown;
  } {
    const body = decodeValue(message.value);
    const operation = body.envelope?.operation;
    return {
      requestId:
        header(message.headers, PsiKafkaHeader.MessageId) ?? derivedId(topic, partition, message),
      correlationKey: header(message.headers, PsiKafkaHeader.CorrelationKey),
      operation:
        header(message.headers, PsiKafkaHeader.Operation) ??
        (typeof operation === 'string' ? operation : undefined),
      replyTo: header(message.headers, PsiKafkaHeader.ReplyTo),
      payload: body.payload,
    };
  },

  /** A record's own id, `topic:partition:offset`: stable across redeliveries. */
  recordId(topic: string, partition: number, message: KafkaMessage): string {
    return derivedId(topic, partition, message);
  },

  /**
   * The record as received, JSON-safe, for a `rejected` dead letter: topic, partition, offset,
   * timestamp, key, every header (all values of a repeated one) and the value; bytes as
   * `{ utf8 }` when they are valid UTF-8, else `{ base64 }`.
   */
  rawRecord(topic: string, partition: number, message: KafkaMessage): Record<string, unknown> {
    const headers: Record<string, RawBytes | RawBytes[]> = {};
    for (const [name, value] of Object.entries(message.headers ?? {})) {
      if (value === undefined) continue;
      headers[name] = Array.isArray(value) ? value.map(rawBytes) : rawBytes(value);
    }
    return {
      topic,
      partition,
      offset: message.offset,
      timestamp: message.timestamp,
      key: message.key === null || message.key === undefined ? null : rawBytes(message.key),
      headers,
      value: message.value === null ? null : rawBytes(message.value),
    };
  },

  /** Every header as a string (the first value of a repeated header), for logs and handlers. */
  headers(headers: IHeaders | undefined): Record<string, string> {
    const result: Record<string, string> = {};
    for (const name of Object.keys(headers ?? {})) {
      const value = header(headers, name);
      if (value !== undefined) result[name] = value;
    }
    return result;
  },
};

/** The first value of header `name` as UTF-8, or undefined when absent or empty. */
function header(headers: IHeaders | undefined, name: string): string | undefined {
  const raw = headers?.[name];
  const first = Array.isArray(raw) ? raw[0] : raw;
  if (first === undefined) return undefined;
  const value = typeof first === 'string' ? first : first.toString('utf8');
  return value === '' ? undefined : value;
}

/** Bytes in a JSON document: as text when they are valid UTF-8, else base64. */
type RawBytes = { utf8: string } | { base64: string };

function rawBytes(value: Buffer | string): RawBytes {
  if (typeof value === 'string') return { utf8: value };
  const text = value.toString('utf8');
  return Buffer.from(text, 'utf8').equals(value)
    ? { utf8: text }
    : { base64: value.toString('base64') };
}

function derivedId(topic: string, partition: number, message: KafkaMessage): string {
  return `${topic}:${partition}:${message.offset}`;
}

interface DecodedValue {
  payload: unknown;
  /** The value as an object, when it is one with a `payload` field. */
  envelope?: Record<string, unknown>;
}

function decodeValue(value: Buffer | null): DecodedValue {
  if (value === null) return { payload: null };
  const text = value.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { payload: text };
  }
  if (
    typeof parsed === 'object' &&
    parsed !== null &&
    !Array.isArray(parsed) &&
    'payload' in parsed
  ) {
    const envelope = parsed as Record<string, unknown>;
    return { payload: envelope.payload, envelope };
  }
  return { payload: parsed };
}
