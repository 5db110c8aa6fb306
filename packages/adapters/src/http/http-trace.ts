import { SpanKind, SpanStatusCode, trace, type TracerProvider } from '@opentelemetry/api';
import { contextFromTraceHeaders, readTraceHeaders, type TraceHeaders } from '@psi/core';
import type { FastifyRequest } from 'fastify';
import { header } from './request-body';

// W3C Trace Context over HTTP: what the transport writes on requests is `traceHeaders` of the
// outbound request (core made them); what the server reads goes to the sink as they came.

/** The `traceparent` / `tracestate` headers of an inbound request. */
export function traceHeadersOf(request: FastifyRequest): TraceHeaders {
  return readTraceHeaders((name) => header(request, name));
}

/** `{ traceHeaders }` for an inbound message, or nothing when the request carried none. */
export function traceFieldsOf(request: FastifyRequest): { traceHeaders?: TraceHeaders } {
  const traceHeaders = traceHeadersOf(request);
  return Object.keys(traceHeaders).length > 0 ? { traceHeaders } : {};
}

/**
 * Runs a `/signal` request in a SERVER span under the caller's trace context (a signal does not
 * go through the coordinator, whose instrumentation traces answers).
 */
export async function tracedSignal<T>(
  tracerProvider: TracerProvider | undefined,
  request: FastifyRequest,
  target: { instanceId: string; waitState: string },
  work: () => Promise<T>,
): Promise<T> {
  const tracer = (tracerProvider ?? trace.getTracerProvider()).getTracer('@psi/adapters');
  const span = tracer.startSpan(
    `signal ${target.waitState}`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': 'POST',
        'http.route': '/instances/:instanceId/signal',
        'psi.instance.id': target.instanceId,
        'psi.wait_state': target.waitState,
      },
    },
    contextFromTraceHeaders(traceHeadersOf(request)),
  );
  try {
    return await work();
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
    throw error;
  } finally {
    span.end();
  }
}
