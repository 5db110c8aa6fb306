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
}

/** What became of an inbound message. */
export type ReceiveOutcome =
  | { status: 'delivered'; instanceId: string; expectationId: string }
  | { status: 'parked'; parkedId: string; instanceId?: string }
  | { status: 'duplicate' }
  | { status: 'dead-lettered'; deadLetterId: string; reason: DeadLetterReason };

/**
 * Why an answer became a dead letter. `unknown-event`: no registered adapter declares its event
 * (a typo, a missing adapter). `conflict`: its sender used its message id before, within the
 * dedupe window, for other content (the letter holds both). `interrupted` is no longer written:
 * older releases wrote it for a delivery whose node died after claiming it (recovery now
 * finishes such a delivery); letters from then can still be replayed.
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
  | 'interrupted';

/** The coordinator side of inbound traffic: transports hand every answer to it. */
export interface InboundSink {
  receive(message: InboundMessage): Promise<ReceiveOutcome>;
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
