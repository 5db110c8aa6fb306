import type { TraceHeaders } from '../observability/trace-context';
import type { ServiceCoordinates } from './service-registry';

/** A request leaving PSI for a service. */
export interface OutboundRequest {
  /** Unique and stable across re-sends: receivers dedupe on it. */
  requestId: string;
  service: string;
  operation: string;
  payload: unknown;
  /** Generated per invocation; the answer carries it back. */
  correlationKey: string;
  /** Where asynchronous answers should be sent, when the transport has such a notion. */
  replyTo?: string;
  /**
   * The process instance the request is for. Not sent on the wire by PSI's transports; lets a
   * transport wrapper bind what it hands out to it (`withCallbackUrls` of @psi/adapters mints
   * callback tokens for this instance and correlation key at send time).
   */
  instanceId?: string;
  /**
   * W3C Trace Context of the send (`traceparent`, and `tracestate` when there is one): a
   * transport puts each on the wire under its name (HTTP headers, Kafka record headers). Empty
   * without tracing.
   */
  traceHeaders?: TraceHeaders;
}

/** What a transport learned synchronously from sending. */
export type DispatchResult =
  /** The service answered in the same exchange (HTTP 2xx body, in-process return value). */
  | { kind: 'reply'; payload: unknown }
  /** The service accepted the request; answers come later as inbound messages. */
  | { kind: 'accepted' };

/** An answer arriving at PSI, from any transport. */
export interface InboundMessage {
  /** Transport-level id used for dedupe; derived from the content when absent. */
  messageId?: string;
  /** The event name the adapter's response handler is declared for. */
  event: string;
  correlationKey?: string;
  /** Explicit business key fields; otherwise PSI extracts them from the payload. */
  businessKey?: Record<string, unknown>;
  payload: unknown;
  /** Free-form origin (transport name, topic, remote address) for audit and dead letters. */
  source?: string;
  /**
   * The namespace of `messageId`: who chose the id, as far as the transport can vouch for it
   * (`http` for the inbound server's messages, `http-callback:<token id>` for a callback,
   * `kafka:<topic>` for a reply topic, `in-process:<service>`). Dedupe compares ids within one
   * sender only, so one sender cannot make another's answer a duplicate by reusing its id.
   * `source` is not used for this: it may name a remote address or a node, which a retry changes.
   * @default one namespace shared by every message that names no sender
   */
  sender?: string;
  /**
   * Set by a transport that authenticated the sender for one visit of one wait state (the HTTP
   * inbound server for a callback token): the answer is matched by `correlationKey` alone, never
   * by business key, and only to an expectation of this instance at this wait state; one that
   * leads elsewhere is refused (CallbackBindingError) and nothing is stored.
   */
  boundTo?: AnswerBinding;
  /**
   * The sender's W3C Trace Context as the transport read it off the wire (`traceparent`,
   * `tracestate`; see `readTraceHeaders`): the answer's receive span is its child.
   */
  traceHeaders?: TraceHeaders;
}

/** The instance and wait state an answer is bound to; see {@link InboundMessage.boundTo}. */
export interface AnswerBinding {
  instanceId: string;
  waitState: string;
}

/** What became of an inbound message. */
export type ReceiveOutcome =
  | { status: 'delivered'; instanceId: string; expectationId: string }
  | { status: 'parked'; parkedId: string; instanceId?: string }
  | { status: 'duplicate' }
  /** No waiting instance took it and its event starts a process: this new instance. */
  | { status: 'started'; instanceId: string; definitionId: string }
  | { status: 'dead-lettered'; deadLetterId: string; reason: DeadLetterReason };

/**
 * Why an answer became a dead letter. `unknown-event`: no registered adapter declares its event
 * (a typo, a missing adapter). `conflict`: its sender used its message id before, within the
 * dedupe window, for other content (the letter holds both). `interrupted` is no longer written:
 * older releases wrote it for a delivery whose node died after claiming it (recovery now
 * finishes such a delivery); letters from then can still be replayed.
 * `rejected`: a transport record PSI refused (over a limit, malformed: `isMessageRejection`) or
 * could not read, kept as it came (see {@link InboundSink.reject}). `parking-full`: the answer
 * would have been parked beyond the coordinator's `maxParkedPerKey`.
 */
export type DeadLetterReason =
  | 'expired'
  | 'ambiguous'
  | 'invalid'
  | 'late'
  | 'superseded'
  | 'handler-failed'
  | 'unknown-event'
  | 'conflict'
  | 'interrupted'
  | 'rejected'
  | 'parking-full';

/** A transport record PSI refused or could not read, as {@link InboundSink.reject} keeps it. */
export interface RejectedInbound {
  /** Why: the error `receive` threw (`isMessageRejection`), or the failure to read the record. */
  error: unknown;
  /**
   * A stable id of the record (Kafka: `topic:partition:offset`): a record handed over again
   * after a crash or a rebalance is kept once.
   */
  messageId: string;
  /** Where it came from, as in {@link InboundMessage.source}. */
  source: string;
  /**
   * The record as received, JSON-safe: for Kafka its topic, partition, offset, timestamp, key,
   * headers and value (bytes as `{ utf8 }` when they are UTF-8, else `{ base64 }`).
   */
  raw: Record<string, unknown>;
  /** The event the record names, when it names one. */
  event?: string;
}

/** The coordinator side of inbound traffic: transports hand every answer to it. */
export interface InboundSink {
  receive(message: InboundMessage): Promise<ReceiveOutcome>;
  /**
   * Keeps a record that `receive` refused for what it is (sending it again cannot succeed) or
   * that could not be read at all, as a `rejected` dead letter holding the record as received;
   * the transport then moves on (a Kafka offset is committed). Throws only when it could not
   * store it (the store is down): the transport retries it then, as it retries `receive`.
   */
  reject?(record: RejectedInbound): Promise<ReceiveOutcome>;
}

/**
 * Transport SPI. A transport carries requests out and answers in.
 *
 * `send` throws {@link TransportTechnicalError} for failures worth retrying (connection refused,
 * timeouts, 5xx) and {@link TransportBusinessError} for answers that say "no" (4xx, a rejection).
 */
export interface Transport {
  /** Name the registry refers to, e.g. `in-process`, `http`, `kafka`. */
  readonly name: string;
  /** Begins accepting inbound answers and hands them to `sink`. */
  start(sink: InboundSink): Promise<void>;
  send(request: OutboundRequest, coordinates: ServiceCoordinates): Promise<DispatchResult>;
  /** Stops accepting; in-flight inbound messages finish first. */
  stop(): Promise<void>;
}

/** DI token for {@link Transport} (multi-bound: one binding per transport). */
export const Transport = Symbol.for('@psi/core/Transport');
