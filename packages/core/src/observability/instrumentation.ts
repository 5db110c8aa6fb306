// Over 400 lines: one method per flow step (invoke, send, receive, park, release, deliver, timeout,
// retry, freeze, dead letter), each with its no-tracer fast path; ARCHITECTURE.md promises one
// place per flow, so they stay together (attributes and links live in span-attributes.ts).
import {
  context as otelContext,
  metrics,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { DeadLetterReason, DispatchResult, ReceiveOutcome } from '../spi/transport';
import type { CoordinatorStats } from '../runtime/coordinator-stats';
import type { ObservabilityOptions } from './observability-options';
import { PsiMetrics } from './psi-metrics';
import {
  contextOf,
  NO_TRACE,
  spanContextOf,
  storedTraceFromHeaders,
  storedTraceOf,
  traceHeadersOf,
  type StoredTrace,
  type TraceHeaders,
} from './trace-context';
import { AttributeSets } from './attribute-sets';
import {
  CONVERSATION,
  DESTINATION,
  errorText,
  expectationAttributes,
  failed,
  NO_LINKS,
  linkTo,
  MESSAGE_CONTEXT,
  MESSAGE_ID,
  OPERATION_NAME,
  OPERATION_TYPE,
  outcomeAttributes,
  parentOf,
  SYSTEM,
  systemOf,
  type InvokeTrace,
  type TracedExpectation,
  type TracedInvocation,
  type TracedMessage,
} from './span-attributes';

/**
 * The one place where PSI's flows meet OpenTelemetry. The flows call it at their steps (invoke,
 * send, receive, park, release, deliver, timeout, retry, freeze, dead letter); it names and
 * attributes the spans (OpenTelemetry messaging conventions, plus `psi.*`), links an answer's
 * spans to the request that caused it through the trace context stored on the expectation, and
 * counts. Only `@opentelemetry/api` is used: without an SDK every call is a no-op (spans are
 * non-recording, nothing is stored on the records).
 *
 * Cost (bench `observability`): metric attribute sets are made once per event, service, step or
 * reason; the trace context PSI stores is remembered parsed (trace-context.ts); span attributes
 * are one literal per span. Without a tracer
 * provider (the API's global one with nothing registered) no span, context or attribute object
 * is made at all: the flows run their work directly and only count.
 */
export class Instrumentation {
  private readonly tracer: Tracer;
  /** The API's global provider when no provider was given: tracing is off while it has none. */
  private readonly global: ProxyTracerProvider | undefined;
  readonly metrics: PsiMetrics;
  private readonly byEvent = new AttributeSets((event) => ({ 'psi.event': event }));
  private readonly byService = new AttributeSets((service) => ({ 'psi.service': service }));
  private readonly byStep = new AttributeSets((step) => ({ 'psi.step': step }));
  private readonly byReason = new AttributeSets((reason) => ({
    'psi.dead_letter.reason': reason,
  }));
  /** By transport, then service. */
  private readonly byTransport = new AttributeSets(
    (transport) =>
      new AttributeSets((service) => ({ [SYSTEM]: transport, 'psi.service': service })),
  );

  constructor(
    options: ObservabilityOptions,
    private readonly stats: CoordinatorStats,
    private readonly clock: () => number,
  ) {
    const tracerProvider = options.tracerProvider ?? trace.getTracerProvider();
    const meterProvider = options.meterProvider ?? metrics.getMeterProvider();
    this.tracer = tracerProvider.getTracer('@psi/core');
    this.global = tracerProvider instanceof ProxyTracerProvider ? tracerProvider : undefined;
    this.metrics = new PsiMetrics(meterProvider.getMeter('@psi/core'));
  }

  // The invoke flow.

  /** Runs `work` (a run of an invocation) in its `invoke <step>` span. */
  async invoke<T extends { status: string }>(
    invocation: TracedInvocation,
    work: (trace: InvokeTrace) => Promise<T>,
  ): Promise<T> {
    const active = otelContext.active();
    if (!this.tracing) return work({ context: active, stored: NO_TRACE });
    const span = this.tracer.startSpan(
      `invoke ${invocation.step}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          [CONVERSATION]: invocation.correlationKey,
          'psi.instance.id': invocation.instanceId,
          'psi.invocation.id': invocation.id,
          'psi.step': invocation.step,
          'psi.service': invocation.service,
        },
      },
      active,
    );
    const context = trace.setSpan(active, span);
    const stored = span.isRecording() ? storedTraceOf(span.spanContext()) : NO_TRACE;
    try {
      const result = await otelContext.with(context, () => work({ context, stored }));
      span.setAttribute('psi.outcome', result.status);
      return result;
    } catch (error) {
      failed(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  /**
   * Sends one attempt of a request in its `send <service>` span (CLIENT for request-reply
   * transports, PRODUCER otherwise); `dispatch` gets the W3C headers to put on the wire.
   * An entry committed by an earlier run (before a restart) is linked to that run's invoke span.
   */
  async send(
    parent: InvokeTrace,
    request: { requestId: string; service: string; operation: string; correlationKey: string },
    entry: StoredTrace,
    transport: string,
    dispatch: (traceHeaders: TraceHeaders) => Promise<DispatchResult>,
  ): Promise<DispatchResult> {
    if (!this.tracing) {
      const started = performance.now();
      try {
        return await dispatch(NO_HEADERS);
      } finally {
        this.metrics.dispatchDuration.record(
          (performance.now() - started) / 1000,
          this.byTransport.of(transport).of(request.service),
        );
      }
    }
    // Committed by this run: its own invoke span is the parent, no link needed.
    const links = entry.traceParent === parent.stored.traceParent ? NO_LINKS : linkTo(entry);
    const span = this.tracer.startSpan(
      `send ${request.service}`,
      {
        kind: transport === 'kafka' ? SpanKind.PRODUCER : SpanKind.CLIENT,
        links,
        attributes: {
          [SYSTEM]: transport,
          [OPERATION_TYPE]: 'send',
          [OPERATION_NAME]: 'send',
          [DESTINATION]: `${request.service}/${request.operation}`,
          [MESSAGE_ID]: request.requestId,
          [CONVERSATION]: request.correlationKey,
        },
      },
      parent.context,
    );
    const headers = span.isRecording() ? traceHeadersOf(storedTraceOf(span.spanContext())) : {};
    const started = performance.now();
    try {
      const result = await otelContext.with(trace.setSpan(parent.context, span), () =>
        dispatch(headers),
      );
      span.setAttribute('psi.outcome', result.kind);
      return result;
    } catch (error) {
      failed(span, error);
      throw error;
    } finally {
      this.metrics.dispatchDuration.record(
        (performance.now() - started) / 1000,
        this.byTransport.of(transport).of(request.service),
      );
      span.end();
    }
  }

  /** After the commit that recorded a request as sent. */
  sent(service: string, transport: string): void {
    this.metrics.sent.add(1, this.byTransport.of(transport).of(service));
  }

  /** After the commit that scheduled a retry. */
  retried(
    parent: InvokeTrace,
    request: { requestId: string; service: string },
    attempt: number,
    delayMs: number,
    error: unknown,
  ): void {
    this.stats.retried++;
    this.metrics.retried.add(1, this.byService.of(request.service));
    const span = this.tracer.startSpan(
      `retry ${request.service}`,
      {
        attributes: {
          [MESSAGE_ID]: request.requestId,
          'psi.attempt': attempt,
          'psi.retry.delay_ms': delayMs,
          'psi.error': errorText(error),
        },
      },
      parent.context,
    );
    span.end();
  }

  /** After the commit that froze an invocation. */
  frozen(parent: InvokeTrace | undefined, invocation: TracedInvocation, error: unknown): void {
    this.stats.frozen++;
    this.metrics.frozen.add(1, this.byStep.of(invocation.step));
    const span = this.tracer.startSpan(
      `freeze ${invocation.step}`,
      {
        attributes: {
          'psi.instance.id': invocation.instanceId,
          'psi.invocation.id': invocation.id,
          'psi.error': errorText(error),
        },
      },
      parent?.context ?? otelContext.active(),
    );
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorText(error) });
    span.end();
  }

  // The receive flow.

  /**
   * Runs `work` (the correlation of one answer) in its `receive <event>` span (CONSUMER; one per
   * answer, whatever batch a transport read it in). Its parent is the sender's context from the
   * answer's trace headers, else the caller's; the answer carries the span's context on (stored
   * with it when it is parked or dead-lettered).
   */
  async receive(
    message: TracedMessage,
    headers: TraceHeaders | undefined,
    work: () => Promise<ReceiveOutcome>,
  ): Promise<ReceiveOutcome> {
    this.stats.received++;
    this.metrics.received.add(1, this.byEvent.of(message.event));
    const sender = storedTraceFromHeaders(headers);
    if (!this.tracing) {
      // Stored with the answer, the sender's context still links once tracing is on.
      if (sender !== NO_TRACE) Object.assign(message, sender);
      return work();
    }
    const parent = sender.traceParent ? contextOf(sender) : otelContext.active();
    const span = this.tracer.startSpan(
      `receive ${message.event}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          [SYSTEM]: systemOf(message.sender),
          [OPERATION_TYPE]: 'receive',
          [OPERATION_NAME]: 'receive',
          [DESTINATION]: message.event,
          [MESSAGE_ID]: message.messageId,
          [CONVERSATION]: message.correlationKey ?? undefined,
          'psi.event': message.event,
        },
      },
      parent,
    );
    const context = trace.setSpan(parent, span);
    // A message without a recording span keeps the sender's context: stored, it still links.
    Object.assign(message, span.isRecording() ? storedTraceOf(span.spanContext()) : sender);
    message[MESSAGE_CONTEXT] = context;
    return runInSpan(span, context, work);
  }

  /** The answer matched `expectation`: its receive span links to the request. */
  matched(message: TracedMessage, expectation: TracedExpectation): void {
    if (!this.tracing) return;
    const span = trace.getSpan(message[MESSAGE_CONTEXT] ?? ROOT_CONTEXT);
    if (!span?.isRecording()) return;
    span.setAttributes(expectationAttributes(expectation));
    const request = spanContextOf(expectation);
    if (request) span.addLink({ context: request, attributes: { 'psi.link': 'request' } });
  }

  /** After the commit that dropped an answer as a duplicate. */
  duplicate(message: TracedMessage): void {
    this.stats.duplicates++;
    this.metrics.duplicates.add(1, this.byEvent.of(message.event));
  }

  /** After the commit that parked an answer. */
  parked(message: TracedMessage, expectation: TracedExpectation | null, parkedId: string): void {
    this.stats.parked++;
    this.metrics.parked.add(1, this.byEvent.of(message.event));
    if (!this.tracing) return;
    this.instant(`park ${message.event}`, parentOf(message), {
      'psi.parked.id': parkedId,
      'psi.instance.id': expectation?.instanceId,
      'psi.invocation.id': expectation?.invocationId,
      'psi.expectation.id': expectation?.id,
      'psi.wait_state': expectation?.waitState,
      'psi.event': expectation?.event,
      [CONVERSATION]: expectation?.correlationKey ?? undefined,
    });
  }

  /**
   * Runs the release of a parked answer in its `release <event>` span, under the answer's
   * receive span (stored with it, so this holds after a restart or on another node) and linked
   * to the request; the delivery that follows is its child.
   */
  async release<T>(
    message: TracedMessage,
    expectation: TracedExpectation,
    parkedFor: number,
    work: () => Promise<T>,
  ): Promise<T> {
    if (!this.tracing) return work();
    const parent = contextOf(message);
    const span = this.tracer.startSpan(
      `release ${message.event}`,
      {
        links: linkTo(expectation),
        attributes: {
          [MESSAGE_ID]: message.messageId,
          'psi.instance.id': expectation.instanceId,
          'psi.invocation.id': expectation.invocationId,
          'psi.expectation.id': expectation.id,
          'psi.wait_state': expectation.waitState,
          'psi.event': expectation.event,
          [CONVERSATION]: expectation.correlationKey ?? undefined,
          'psi.parked_ms': parkedFor,
        },
      },
      parent,
    );
    const context = trace.setSpan(parent, span);
    message[MESSAGE_CONTEXT] = context;
    try {
      return await otelContext.with(context, work);
    } finally {
      span.end();
    }
  }

  /** After the commit of a released answer's claim. */
  released(message: TracedMessage, parkedFor: number): void {
    this.metrics.released.add(1, this.byEvent.of(message.event));
    this.metrics.parkedTime.record(parkedFor / 1000, this.byEvent.of(message.event));
  }

  /**
   * Runs a claimed delivery (handler, signal, record) in its `deliver <event>` span: under the
   * answer's receive or release span, linked to the request. Recovery's re-run of a delivery
   * finds the answer's context in the claim.
   */
  async deliver(
    message: TracedMessage,
    expectation: TracedExpectation,
    delivery: { deliveryId: string; redelivered: boolean },
    work: () => Promise<ReceiveOutcome>,
  ): Promise<ReceiveOutcome> {
    if (!this.tracing) return work();
    const parent = parentOf(message);
    const span = this.tracer.startSpan(
      `deliver ${expectation.event}`,
      {
        links: linkTo(expectation),
        attributes: {
          [OPERATION_TYPE]: 'process',
          [OPERATION_NAME]: 'deliver',
          [MESSAGE_ID]: message.messageId,
          'psi.instance.id': expectation.instanceId,
          'psi.invocation.id': expectation.invocationId,
          'psi.expectation.id': expectation.id,
          'psi.wait_state': expectation.waitState,
          'psi.event': expectation.event,
          [CONVERSATION]: expectation.correlationKey ?? undefined,
          'psi.delivery.id': delivery.deliveryId,
          'psi.redelivered': delivery.redelivered,
        },
      },
      parent,
    );
    return runInSpan(span, trace.setSpan(parent, span), work);
  }

  /** A response handler ran for `durationMs`. */
  handled(event: string, durationMs: number): void {
    this.metrics.handlerDuration.record(durationMs / 1000, { 'psi.event': event });
  }

  /** After the commit that recorded a delivery. */
  delivered(expectation: TracedExpectation): void {
    this.stats.delivered++;
    this.metrics.delivered.add(1, this.byEvent.of(expectation.event));
    const since = this.clock() - expectation.createdAt;
    this.metrics.criticalTime.record(Math.max(0, since) / 1000, this.byEvent.of(expectation.event));
  }

  /** After the commit that wrote a dead letter for `message`. */
  deadLettered(
    message: TracedMessage,
    reason: DeadLetterReason,
    expectation?: { id: string | null; instanceId: string | null },
  ): void {
    this.stats.deadLettered++;
    this.metrics.deadLettered.add(1, this.byReason.of(reason));
    if (!this.tracing) return;
    this.instant(`dead-letter ${reason}`, parentOf(message), {
      [MESSAGE_ID]: message.messageId,
      'psi.event': message.event,
      'psi.dead_letter.reason': reason,
      'psi.instance.id': expectation?.instanceId ?? undefined,
      'psi.expectation.id': expectation?.id ?? undefined,
    });
  }

  /** After the commit of a timeout's claim: a `timeout <event>` span linked to the request. */
  timedOut(expectation: TracedExpectation): void {
    this.stats.timedOut++;
    this.metrics.timedOut.add(1, this.byEvent.of(expectation.event));
    if (!this.tracing) return;
    const span = this.tracer.startSpan(
      `timeout ${expectation.event}`,
      { links: linkTo(expectation), attributes: expectationAttributes(expectation) },
      ROOT_CONTEXT,
    );
    span.end();
  }

  /**
   * False while spans would all be no-ops: no provider given and none registered globally (read
   * at each step, so a provider registered after the coordinator was made is used).
   */
  private get tracing(): boolean {
    return this.global === undefined || this.global.getDelegate() !== NOOP_TRACER_PROVIDER;
  }

  private instant(name: string, parent: Context, attributes: Attributes): void {
    this.tracer.startSpan(name, { attributes }, parent).end();
  }
}

/** The API's no-op provider: what its global proxy delegates to while nothing is registered. */
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();

/** Trace headers when tracing is off: none (transports only read them). */
const NO_HEADERS: TraceHeaders = Object.freeze({});

/**
 * Runs `work` in `context` (which holds `span`): the outcome's attributes on the span when it
 * succeeds, the error when it fails, and the span ended either way.
 */
async function runInSpan<T extends ReceiveOutcome>(
  span: Span,
  context: Context,
  work: () => Promise<T>,
): Promise<T> {
  try {
    const outcome = await otelContext.with(context, work);
    span.setAttributes(outcomeAttributes(outcome));
    return outcome;
  } catch (error) {
    failed(span, error);
    throw error;
  } finally {
    span.end();
  }
}
