import { createTraceState, TraceFlags, trace } from '@opentelemetry/api';
import {
  contextFromTraceHeaders,
  readTraceHeaders,
  spanContextOf,
  storedTraceFromHeaders,
  storedTraceOf,
  traceHeadersOf,
} from './trace-context';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';

describe('trace context', () => {
  it('stores a span context as W3C strings and reads it back as a remote parent', () => {
    const stored = storedTraceOf({
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      traceFlags: TraceFlags.SAMPLED,
      traceState: createTraceState('vendor=a,other=b'),
    });
    expect(stored).toEqual({
      traceParent: `00-${TRACE_ID}-${SPAN_ID}-01`,
      traceState: 'vendor=a,other=b',
    });
    const back = spanContextOf(stored)!;
    expect(back).toMatchObject({ traceId: TRACE_ID, spanId: SPAN_ID, isRemote: true });
    expect(back.traceState?.get('other')).toBe('b');
    expect(traceHeadersOf(stored)).toEqual({
      traceparent: stored.traceParent,
      tracestate: 'vendor=a,other=b',
    });
  });

  it('stores nothing for an invalid (no-op) span context', () => {
    expect(
      storedTraceOf(
        trace
          .wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 })
          .spanContext(),
      ),
    ).toEqual({ traceParent: null, traceState: null });
  });

  it('ignores malformed, all-zero or oversized headers', () => {
    for (const traceparent of [
      'garbage',
      `01-${TRACE_ID}-${SPAN_ID}-01x`,
      `00-${'0'.repeat(32)}-${SPAN_ID}-01`,
      `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`,
    ]) {
      expect(storedTraceFromHeaders({ traceparent })).toEqual({
        traceParent: null,
        traceState: null,
      });
    }
    expect(
      readTraceHeaders((name) => (name === 'tracestate' ? 'x'.repeat(600) : undefined)),
    ).toEqual({});
    expect(
      trace.getSpanContext(contextFromTraceHeaders({ traceparent: 'garbage' })),
    ).toBeUndefined();
    expect(
      trace.getSpanContext(
        contextFromTraceHeaders({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-00` }),
      ),
    ).toMatchObject({ spanId: SPAN_ID, traceFlags: TraceFlags.NONE });
  });
});
