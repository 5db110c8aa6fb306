import {
  SpanStatusCode,
  type Attributes,
  type Context,
  type Link,
  type Span,
} from '@opentelemetry/api';
import type { ReceiveOutcome } from '../spi/transport';
import { contextOf, spanContextOf, type StoredTrace } from './trace-context';

// What Instrumentation reads of PSI's records, and how it names and attributes them: the
// OpenTelemetry messaging attributes and PSI's own, in one place.

/** Where a traced answer's spans hang: the in-memory context of its receive (or release) span. */
export const MESSAGE_CONTEXT = Symbol('psi.messageContext');

/** What instrumentation reads of an answer (a `ReceivedMessage` has these fields). */
export interface TracedMessage extends StoredTrace {
  messageId: string;
  event: string;
  correlationKey: string | null;
  sender?: string;
  [MESSAGE_CONTEXT]?: Context;
}

/** What instrumentation reads of an expectation (the row has these fields). */
export interface TracedExpectation extends StoredTrace {
  id: string;
  instanceId: string;
  invocationId: string;
  event: string;
  waitState: string;
  correlationKey: string | null;
  createdAt: number;
}

/** What instrumentation reads of an invocation. */
export interface TracedInvocation {
  id: string;
  instanceId: string;
  step: string;
  service: string;
  correlationKey: string;
}

/** An invoke span in flight: its context (parent of its sends) and its stored form. */
export interface InvokeTrace {
  readonly context: Context;
  readonly stored: StoredTrace;
}

export const SYSTEM = 'messaging.system';
export const OPERATION_TYPE = 'messaging.operation.type';
export const OPERATION_NAME = 'messaging.operation.name';
export const DESTINATION = 'messaging.destination.name';
export const MESSAGE_ID = 'messaging.message.id';
export const CONVERSATION = 'messaging.message.conversation_id';

/** The context an answer's spans hang under: in memory, else the one stored with it. */
export function parentOf(message: TracedMessage): Context {
  return message[MESSAGE_CONTEXT] ?? contextOf(message);
}

/** No links: one shared empty array (the SDK only reads it). */
export const NO_LINKS: Link[] = [];

const REQUEST_LINK: Attributes = Object.freeze({ 'psi.link': 'request' });

/** A link to the stored trace (none when nothing is stored). */
export function linkTo(stored: StoredTrace): Link[] {
  const context = spanContextOf(stored);
  return context ? [{ context, attributes: REQUEST_LINK }] : NO_LINKS;
}

// Attribute objects are literals with every key; an absent value is `undefined`, which spans
// leave out.

export function expectationAttributes(expectation: TracedExpectation): Attributes {
  return {
    'psi.instance.id': expectation.instanceId,
    'psi.invocation.id': expectation.invocationId,
    'psi.expectation.id': expectation.id,
    'psi.wait_state': expectation.waitState,
    'psi.event': expectation.event,
    [CONVERSATION]: expectation.correlationKey ?? undefined,
  };
}

export function outcomeAttributes(outcome: ReceiveOutcome): Attributes {
  return {
    'psi.outcome': outcome.status,
    'psi.dead_letter.reason': outcome.status === 'dead-lettered' ? outcome.reason : undefined,
  };
}

/** The transport an answer came through, from its sender namespace (`kafka:<topic>`, `http`). */
export function systemOf(sender: string | undefined): string {
  const system = sender?.split(':')[0];
  return system ? system : 'psi';
}

export function failed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: errorText(error) });
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
