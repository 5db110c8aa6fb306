import type { EntityManager } from 'typeorm';
import { AuditEntryEntity } from '../../store/entities/audit-entry.entity';
import { DeadLetterEntity } from '../../store/entities/dead-letter.entity';
import { ExpectationEntity } from '../../store/entities/expectation.entity';
import { InvocationEntity } from '../../store/entities/invocation.entity';
import { OperationEntity } from '../../store/entities/operation.entity';
import { ParkedMessageEntity } from '../../store/entities/parked-message.entity';
import { ProcessGuardEntity } from '../../store/entities/process-guard.entity';
import { flushDeferredInserts } from '../../store/deferred-inserts';
import { ACTIVITY_KINDS_SQL } from '../../store/migrations/activity-audit-kinds';
import type { ActivitySeries, AuditEntryView, Overview } from '../operation-types';

// The overview's counts, the activity chart and audit reads (issue 17 moves them into a records
// layer with the other table access of the operations API).

type Counts = Omit<Overview, 'at' | 'activity'>;

const countsBy = async (
  query: Promise<Array<{ k: unknown; n: unknown }>>,
): Promise<Map<string, number>> =>
  new Map((await query).map((row) => [String(row.k), Number(row.n)]));

/** Current counts of what waits, is parked, dead, frozen, held or being operated on. */
export async function overviewCounts(tx: EntityManager, now: number): Promise<Counts> {
  const expectations = await countsBy(
    tx
      .createQueryBuilder(ExpectationEntity, 'e')
      .select('e.status', 'k')
      .addSelect('COUNT(1)', 'n')
      .where('e.status IN (:...live)', { live: ['open', 'claimed'] })
      .groupBy('e.status')
      .getRawMany(),
  );
  const overdue = await tx
    .createQueryBuilder(ExpectationEntity, 'e')
    // The literal 'open' matches the partial deadline index's predicate.
    .where(`e.status = 'open' AND e.deadline IS NOT NULL AND e.deadline < :now`, { now })
    .getCount();
  const parked = await countsBy(
    tx
      .createQueryBuilder(ParkedMessageEntity, 'p')
      .select("CASE WHEN p.expectationId IS NULL THEN 'none' ELSE 'some' END", 'k')
      .addSelect('COUNT(1)', 'n')
      .groupBy('k')
      .getRawMany(),
  );
  const dead = await countsBy(
    tx
      .createQueryBuilder(DeadLetterEntity, 'd')
      .select('d.reason', 'k')
      .addSelect('COUNT(1)', 'n')
      .where('d.status = :open', { open: 'open' })
      .groupBy('d.reason')
      .getRawMany(),
  );
  const invocations = await countsBy(
    tx
      .createQueryBuilder(InvocationEntity, 'i')
      .select('i.status', 'k')
      .addSelect('COUNT(1)', 'n')
      .where('i.status IN (:...live)', { live: ['frozen', 'running', 'waiting'] })
      .groupBy('i.status')
      .getRawMany(),
  );
  const guards = await tx
    .createQueryBuilder(ProcessGuardEntity, 'g')
    .where('g.expiresAt > :now', { now })
    .getCount();
  const operations = await tx
    .createQueryBuilder(OperationEntity, 'o')
    .where('o.status IN (:...active)', { active: ['pending', 'running'] })
    .getCount();
  const noExpectation = parked.get('none') ?? 0;
  const instanceNotReady = parked.get('some') ?? 0;
  return {
    expectations: {
      open: expectations.get('open') ?? 0,
      overdue,
      claimed: expectations.get('claimed') ?? 0,
    },
    parked: { total: noExpectation + instanceNotReady, noExpectation, instanceNotReady },
    deadLetters: {
      open: [...dead.values()].reduce((a, b) => a + b, 0),
      byReason: Object.fromEntries(dead),
    },
    invocations: {
      frozen: invocations.get('frozen') ?? 0,
      running: invocations.get('running') ?? 0,
      waiting: invocations.get('waiting') ?? 0,
    },
    guards: { held: guards },
    operations: { active: operations },
  };
}

// The partial index psi_audit_activity is used only when the query repeats its WHERE term.
const ACTIVITY_TERM = `a.kind IN (${ACTIVITY_KINDS_SQL})`;

/** Parked, dead-lettered and delivered answers per bucket since `since`, from the audit trail. */
export async function activitySeries(
  tx: EntityManager,
  since: number,
  bucketMs: number,
  buckets: number,
): Promise<ActivitySeries> {
  await flushDeferredInserts(tx);
  const rows = await tx
    .createQueryBuilder(AuditEntryEntity, 'a')
    .select('a.kind', 'kind')
    .addSelect('(a.at - :since) / :bucket', 'b')
    .addSelect('COUNT(1)', 'n')
    .where(ACTIVITY_TERM)
    .andWhere('a.kind IN (:...kinds)', { kinds: ['parked', 'dead-lettered', 'delivered'] })
    .andWhere('a.at >= :since', { since, bucket: bucketMs })
    .groupBy('a.kind')
    .addGroupBy('b')
    .getRawMany<{ kind: string; b: unknown; n: unknown }>();
  const series = Array.from({ length: buckets }, (_, i) => ({
    at: since + i * bucketMs,
    parked: 0,
    deadLettered: 0,
    delivered: 0,
  }));
  for (const row of rows) {
    const bucket = series[Math.floor(Number(row.b))];
    if (!bucket) continue;
    const n = Number(row.n);
    if (row.kind === 'parked') bucket.parked += n;
    else if (row.kind === 'dead-lettered') bucket.deadLettered += n;
    else bucket.delivered += n;
  }
  return { since, bucketMs, buckets: series };
}

function auditView(row: AuditEntryEntity): AuditEntryView {
  return {
    seq: row.seq,
    kind: row.kind,
    instanceId: row.instanceId ?? undefined,
    invocationId: row.invocationId ?? undefined,
    detail: row.detail ? (JSON.parse(row.detail) as Record<string, unknown>) : undefined,
    at: row.at,
  };
}

/** Every audit entry of an instance, oldest first. */
export async function instanceAudit(
  tx: EntityManager,
  instanceId: string,
): Promise<AuditEntryView[]> {
  await flushDeferredInserts(tx);
  const rows = await tx.find(AuditEntryEntity, { where: { instanceId }, order: { seq: 'ASC' } });
  return rows.map(auditView);
}

/** The latest audit entries of the given activity kinds (operator actions, say), newest first. */
export async function recentActivity(
  tx: EntityManager,
  kinds: readonly string[],
  page: { limit: number; before?: number },
): Promise<AuditEntryView[]> {
  await flushDeferredInserts(tx);
  const query = tx
    .createQueryBuilder(AuditEntryEntity, 'a')
    .where(ACTIVITY_TERM)
    .andWhere('a.kind IN (:...kinds)', { kinds });
  if (page.before !== undefined) query.andWhere('a.seq < :before', { before: page.before });
  const rows = await query.orderBy('a.seq', 'DESC').limit(page.limit).getMany();
  return rows.map(auditView);
}
