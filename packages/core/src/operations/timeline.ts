import type { PsiStore } from '../store/psi-store';
import type {
  AuditEntryView,
  DeadLetterView,
  ExpectationView,
  InstanceTimeline,
  InvocationView,
  ParkedView,
  TimelineEntry,
} from './operation-types';
import { compileFilter } from './record-filter';
import { instanceAudit } from './read-model/overview-queries';
import { listRecords } from './read-model/record-queries';

/** Records of one kind an instance has (an instance's rows are few; 1,000 is a safe cap). */
const PER_LIST = 1000;

/**
 * An instance's records (invocations, expectations, parked answers, dead letters, audit entries)
 * read in one transaction, and one time-ordered history: every audit entry, plus when each
 * expectation opened and closed (the audit trail records invocations, not each expectation).
 */
export async function buildTimeline(
  store: PsiStore,
  instanceId: string,
  now: number,
): Promise<InstanceTimeline> {
  const read = <T>(list: 'expectations' | 'parked' | 'dead-letters' | 'invocations') =>
    store.transaction(async (tx) => {
      const filter = compileFilter(list, { instanceId }, now);
      return (await listRecords(tx, filter, { limit: PER_LIST, order: 'oldest' })).items as T[];
    });
  const [invocations, expectations, parked, deadLetters, audit] = await Promise.all([
    read<InvocationView>('invocations'),
    read<ExpectationView>('expectations'),
    read<ParkedView>('parked'),
    read<DeadLetterView>('dead-letters'),
    store.transaction((tx) => instanceAudit(tx, instanceId)),
  ]);
  const entries: TimelineEntry[] = audit.map(auditLine);
  for (const e of expectations) {
    entries.push({
      at: e.createdAt,
      source: 'expectation',
      kind: 'expecting',
      summary: `expects "${e.event}" at "${e.waitState}"${e.deadline ? ` until ${new Date(e.deadline).toISOString()}` : ''}`,
      ref: e.id,
    });
    if (e.closedAt !== undefined) {
      entries.push({
        at: e.closedAt,
        source: 'expectation',
        // Not the status alone: the audit trail has its own `delivered` / `timed-out` entry.
        kind: `closed: ${e.status}`,
        summary: `expectation of "${e.event}" closed: ${e.status}`,
        ref: e.id,
      });
    }
  }
  for (const p of parked) {
    entries.push({
      at: p.receivedAt,
      source: 'parked',
      kind: 'parked now',
      summary: `"${p.event}" parked (${p.reason}), expires ${new Date(p.expiresAt).toISOString()}`,
      ref: p.id,
    });
  }
  // Stable: audit entries first at equal times, in their own order.
  entries.sort((a, b) => a.at - b.at);
  return { instanceId, invocations, expectations, parked, deadLetters, audit, entries };
}

function auditLine(entry: AuditEntryView): TimelineEntry {
  const d = entry.detail ?? {};
  const text = (key: string) => (typeof d[key] === 'string' ? (d[key] as string) : undefined);
  const by = text('actor') ? ` by ${text('actor')} (${text('channel')}): ${text('reason')}` : '';
  const about = text('event')
    ? ` "${text('event')}"`
    : text('step')
      ? ` step "${text('step')}"`
      : '';
  const why = entry.kind === 'dead-lettered' && text('reason') ? ` (${text('reason')})` : '';
  return {
    at: entry.at,
    source: 'audit',
    kind: entry.kind,
    summary: `${entry.kind}${about}${why}${by}`,
    ref: entry.invocationId,
  };
}
