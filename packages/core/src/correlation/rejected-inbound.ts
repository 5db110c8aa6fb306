import { createHash } from 'node:crypto';
import { PsiError } from '../errors';
import type { ReceiveOutcome, RejectedInbound } from '../spi/transport';
import type { AuditLog } from '../records/audit-log';
import type { Instrumentation } from '../observability/instrumentation';
import { rejectedLetterId, type DeadLetterQueue } from '../records/dead-letters';
import { checkIdentifier, type CompiledInboundLimits } from './inbound-limits';
import type { AdapterCatalog } from '../runtime/adapter-catalog';
import { normaliseMessage } from './received-message';

/** The event name of a rejected record that names no usable one. */
export const UNREADABLE_EVENT = '(unreadable)';

export interface RejectedInboundDeps {
  audit: AuditLog;
  deadLetters: DeadLetterQueue;
  limits: CompiledInboundLimits;
  catalog: AdapterCatalog;
  instrumentation: Instrumentation;
  clock: () => number;
}

/**
 * Keeps transport records that PSI refused or could not read as `rejected` dead letters holding
 * the record as received, once per record (a redelivered one finds its letter). The letter's
 * own columns hold only what passes the limits: the raw record is in its payload.
 */
export class RejectedInboundKeeper {
  constructor(private readonly deps: RejectedInboundDeps) {}

  async keep(record: RejectedInbound): Promise<ReceiveOutcome> {
    const { limits, catalog, clock } = this.deps;
    const source = usable(record.source, limits.maxIdBytes);
    const normalised = normaliseMessage(
      {
        messageId: usable(record.messageId, limits.maxIdBytes) ?? digest(record.messageId),
        event:
          (record.event !== undefined ? usable(record.event, limits.maxEventBytes) : undefined) ??
          UNREADABLE_EVENT,
        payload: record.raw,
        ...(source !== undefined ? { source } : {}),
      },
      catalog,
      clock(),
    );
    // The raw record is no answer: it carries no key to match or park by.
    const message = { ...normalised, businessKeys: [] };
    return this.deps.audit.transaction(async (tx, audit) => {
      const kept = await rejectedLetterId(tx, message.messageId);
      if (kept) return { status: 'dead-lettered', deadLetterId: kept, reason: 'rejected' };
      audit.afterCommit(() => this.deps.instrumentation.deadLettered(message, 'rejected'));
      return this.deps.deadLetters.add(tx, audit, message, 'rejected', {
        detail: { error: describeRejection(record.error) },
      });
    });
  }
}

/** `value` when it passes the identifier rules under `maxBytes`; undefined otherwise. */
function usable(value: string, maxBytes: number): string | undefined {
  try {
    checkIdentifier('id', value, maxBytes, 'limit');
    return value;
  } catch {
    return undefined;
  }
}

function digest(value: string): string {
  return `sha256:${createHash('sha256').update(value).digest('base64url')}`;
}

function describeRejection(error: unknown): unknown {
  if (PsiError.is(error)) return error.toJSON();
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { message: String(error) };
}
