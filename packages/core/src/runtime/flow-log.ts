import type { PsiLogger, PsiLogLevel } from '../logging/psi-logger';
import type { TraceEvent } from '../records/audit-log';
import type { AuditKind } from '../store/entities/audit-entry.entity';

/** How each committed step is logged: its level and its line. */
const STEPS: Record<AuditKind, [PsiLogLevel, string]> = {
  invoked: ['debug', 'invocation started'],
  sent: ['debug', 'invocation sent'],
  reply: ['debug', 'synchronous reply received'],
  received: ['debug', 'answer received'],
  duplicate: ['debug', 'duplicate answer ignored'],
  parked: ['debug', 'answer parked'],
  started: ['info', 'instance started by a message'],
  released: ['debug', 'parked answer released'],
  delivered: ['debug', 'answer delivered'],
  completed: ['debug', 'invocation completed'],
  awaiting: ['debug', 'wait state recorded'],
  'timed-out': ['info', 'timeout fired'],
  retried: ['info', 'retry scheduled'],
  failed: ['info', 'invocation failed'],
  'dead-lettered': ['info', 'dead-lettered'],
  thawed: ['info', 'invocation thawed'],
  // A frozen invocation waits for a person (thaw), so it is a warning.
  frozen: ['warn', 'invocation frozen: its retries are used up; thaw it once the service is back'],
  replayed: ['info', 'operator action: dead letter replayed'],
  discarded: ['info', 'operator action: dead letter discarded'],
  injected: ['info', 'operator action: answer injected'],
  'guard-released': ['info', 'operator action: guard released'],
  'parked-released': ['info', 'operator action: parked answer released'],
  'parked-expired': ['info', 'parked answer expired'],
  operation: ['info', 'operator action'],
};

/**
 * The log lines of the flows, in one place: each audit entry, once its transaction committed
 * (a rolled-back step is never logged), becomes one line on a child logger bound to the
 * entry's instanceId, invocationId, correlationKey, messageId and event. The flows write audit
 * entries at every step already, so they hold no logging of their own beyond warnings.
 */
export class FlowLog {
  constructor(private readonly logger: PsiLogger) {}

  step(entry: TraceEvent): void {
    const [level, line] = STEPS[entry.kind] ?? ['debug', entry.kind];
    const { logger } = this;
    if (logger.isLevelEnabled && !logger.isLevelEnabled(level)) return;
    const { messageId, event, reason, ...fields } = entry.detail ?? {};
    const bindings: Record<string, unknown> = {};
    if (entry.instanceId !== undefined) bindings.instanceId = entry.instanceId;
    if (entry.invocationId !== undefined) bindings.invocationId = entry.invocationId;
    if (entry.correlationKey) bindings.correlationKey = entry.correlationKey;
    if (entry.messageId !== undefined || messageId !== undefined) {
      bindings.messageId = entry.messageId ?? messageId;
    }
    if (event !== undefined) bindings.event = event;
    const message =
      reason !== undefined && entry.kind === 'dead-lettered' ? `${line} (${String(reason)})` : line;
    const fieldsOfLine = {
      step: entry.kind,
      ...(reason !== undefined ? { reason } : {}),
      ...fields,
    };
    try {
      const child = logger.child(bindings);
      child[level](fieldsOfLine, message);
    } catch {
      // A logger that throws must not fail a step that has committed.
    }
  }
}
