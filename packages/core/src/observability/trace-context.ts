import {
  context as otelContext,
  createTraceState,
  isSpanContextValid,
  ROOT_CONTEXT,
  trace,
  TraceFlags,
  type Context,
  type SpanContext,
} from '@opentelemetry/api';

/**
 * A span's context as PSI stores it beside a record (outbox entry, expectation, parked answer,
 * dead letter) and carries it on the wire: the W3C `traceparent` and `tracestate` strings. Null
 * columns mean "no trace" (no SDK installed, or a record from before tracing).
 */
export interface StoredTrace {
  traceParent: string | null;
  traceState: string | null;
}

/** The W3C Trace Context headers a transport puts on the wire and reads from it. */
export const TRACE_HEADERS = ['traceparent', 'tracestate'] as const;

/** Trace headers as a transport hands them over: lower-case names, string values. */
export type TraceHeaders = Readonly<Record<string, string>>;

export const NO_TRACE: StoredTrace = { traceParent: null, traceState: null };

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The stored form of a span context; NO_TRACE for an invalid one (a no-op tracer's). PSI writes
 * W3C Trace Context itself instead of through the global propagator: what it stores must be
 * readable by any node later, whatever propagator that process configured.
 */
export function storedTraceOf(spanContext: SpanContext | undefined): StoredTrace {
  if (!spanContext || !isSpanContextValid(spanContext)) return NO_TRACE;
  const flags = spanContext.traceFlags & 0xff;
  const state = spanContext.traceState?.serialize();
  const traceParent = `00-${spanContext.traceId}-${spanContext.spanId}-${flags < 16 ? '0' : ''}${flags.toString(16)}`;
  const stored = { traceParent, traceState: state ? state : null };
  // What this process stores it reads back soon (the answer's receive, release and deliver
  // spans link to it): remember the parsed form now instead of parsing the strings again.
  remember(stored.traceState ? `${traceParent} ${stored.traceState}` : traceParent, {
    traceId: spanContext.traceId,
    spanId: spanContext.spanId,
    traceFlags: flags & TraceFlags.SAMPLED,
    isRemote: true,
    ...(stored.traceState ? { traceState: spanContext.traceState } : {}),
  });
  return stored;
}

/**
 * Span contexts parsed or written lately, by traceparent + tracestate: one answer's spans link
 * to its request three or four times (receive, release, deliver), each from the same stored
 * strings. Span contexts are read-only, so sharing one is safe; the cache is emptied when it is
 * full. `null`: the strings are not a valid trace context.
 */
const parsed = new Map<string, SpanContext | null>();
const PARSED_MAX = 4_096;

function remember(key: string, spanContext: SpanContext | null): void {
  if (parsed.size >= PARSED_MAX) parsed.clear();
  parsed.set(key, spanContext);
}

/** The remote span context a stored trace names, or undefined when there is none. */
export function spanContextOf(stored: Partial<StoredTrace> | undefined): SpanContext | undefined {
  const traceParent = stored?.traceParent;
  if (!traceParent) return undefined;
  const key = stored.traceState ? `${traceParent} ${stored.traceState}` : traceParent;
  const known = parsed.get(key);
  if (known !== undefined) return known ?? undefined;
  const spanContext = parse(traceParent, stored.traceState ?? null);
  remember(key, spanContext ?? null);
  return spanContext;
}

function parse(traceParent: string, traceState: string | null): SpanContext | undefined {
  const match = TRACEPARENT.exec(traceParent);
  if (!match) return undefined;
  const spanContext: SpanContext = {
    traceId: match[1],
    spanId: match[2],
    traceFlags: parseInt(match[3], 16) & TraceFlags.SAMPLED,
    isRemote: true,
    ...(traceState ? { traceState: createTraceState(traceState) } : {}),
  };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}

/** A context whose parent is the stored span (ROOT when none is stored). */
export function contextOf(stored: Partial<StoredTrace> | undefined): Context {
  const spanContext = spanContextOf(stored);
  return spanContext ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : ROOT_CONTEXT;
}

/** The headers of a stored trace (none when nothing is stored). */
export function traceHeadersOf(stored: StoredTrace): Record<string, string> {
  const headers: Record<string, string> = {};
  if (stored.traceParent) headers.traceparent = stored.traceParent;
  if (stored.traceParent && stored.traceState) headers.tracestate = stored.traceState;
  return headers;
}

/**
 * Reads `traceparent` / `tracestate` through `get` (header names are asked for in lower case;
 * a transport whose headers keep their case lower-cases them first). Values that are not
 * strings (Kafka gives Buffers) are turned into text by `get`.
 */
export function readTraceHeaders(get: (name: string) => string | undefined): TraceHeaders {
  const headers: Record<string, string> = {};
  for (const name of TRACE_HEADERS) {
    const value = get(name);
    if (typeof value === 'string' && value.length > 0 && value.length <= 512) headers[name] = value;
  }
  return headers;
}

/** The stored form of received trace headers (NO_TRACE when they hold no valid traceparent). */
export function storedTraceFromHeaders(headers: TraceHeaders | undefined): StoredTrace {
  if (!headers?.traceparent) return NO_TRACE;
  const stored = {
    traceParent: headers?.traceparent ?? null,
    traceState: headers?.tracestate ?? null,
  };
  return spanContextOf(stored) ? stored : NO_TRACE;
}

/** The active context of the caller (the application's context manager decides what it is). */
export function activeContext(): Context {
  return otelContext.active();
}

/**
 * The context received trace headers name (their span as a remote parent), or ROOT_CONTEXT:
 * for transports that trace work of their own (the HTTP server's `/signal`).
 */
export function contextFromTraceHeaders(headers: TraceHeaders | undefined): Context {
  return contextOf(storedTraceFromHeaders(headers));
}
