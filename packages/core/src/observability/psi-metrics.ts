import type { Counter, Histogram, Meter } from '@opentelemetry/api';

/**
 * The counters and histograms PSI records (README "Observability" lists them with their
 * attributes). Counters are added to once the unit of work that caused them committed
 * (`Audit.afterCommit`), so a unit that group commit runs twice counts once. Durations are in
 * seconds, as the OpenTelemetry semantic conventions ask.
 */
export class PsiMetrics {
  readonly sent: Counter;
  readonly received: Counter;
  readonly delivered: Counter;
  readonly parked: Counter;
  readonly released: Counter;
  readonly timedOut: Counter;
  readonly retried: Counter;
  readonly frozen: Counter;
  readonly deadLettered: Counter;
  readonly duplicates: Counter;
  /** Request to delivery of its answer (NServiceBus's "critical time"). */
  readonly criticalTime: Histogram;
  readonly parkedTime: Histogram;
  readonly handlerDuration: Histogram;
  readonly dispatchDuration: Histogram;

  constructor(meter: Meter) {
    const counter = (name: string, description: string): Counter =>
      meter.createCounter(name, { description, unit: '{message}' });
    const seconds = (name: string, description: string): Histogram =>
      meter.createHistogram(name, { description, unit: 's' });
    this.sent = counter('psi.requests.sent', 'Requests a transport took');
    this.received = counter('psi.answers.received', 'Answers handed to the coordinator');
    this.delivered = counter('psi.answers.delivered', 'Answers delivered to their instance');
    this.parked = counter('psi.answers.parked', 'Answers parked until their instance waits');
    this.released = counter('psi.answers.released', 'Parked answers released for delivery');
    this.timedOut = counter('psi.expectations.timed_out', 'Expectations whose deadline won');
    this.retried = counter('psi.requests.retried', 'Sends that failed and were scheduled again');
    this.frozen = counter('psi.invocations.frozen', 'Invocations frozen (retries ran out)');
    this.deadLettered = counter('psi.dead_letters.created', 'Dead letters written, by reason');
    this.duplicates = counter('psi.answers.duplicates', 'Answers dropped as duplicates');
    this.criticalTime = seconds(
      'psi.answer.critical_time',
      'From the request (its expectation recorded) to the delivery of its answer',
    );
    this.parkedTime = seconds('psi.answer.parked_time', 'How long a released answer was parked');
    this.handlerDuration = seconds('psi.handler.duration', "An adapter's response handler");
    this.dispatchDuration = seconds('psi.dispatch.duration', "A transport's send, per attempt");
  }
}
