import {
  type EntityManager,
  type EntityTarget,
  type ObjectLiteral,
  type SelectQueryBuilder,
} from 'typeorm';
import { DeadLetterEntity } from '../../store/entities/dead-letter.entity';
import { ExpectationEntity } from '../../store/entities/expectation.entity';
import { InvocationEntity } from '../../store/entities/invocation.entity';
import { OutboxEntryEntity } from '../../store/entities/outbox-entry.entity';
import { ParkedMessageEntity } from '../../store/entities/parked-message.entity';
import { ProcessGuardEntity } from '../../store/entities/process-guard.entity';
import type {
  DeadLetterGroup,
  DeadLetterView,
  ExpectationView,
  GuardView,
  InvocationView,
  ParkedView,
  RecordFilter,
  RecordList,
  RecordView,
} from '../operation-types';
import type { CompiledFilter } from '../record-filter';

// The operations API's reads of PSI's record tables (issue 17 moves them into a records layer).
// Filters, joins and keyset paging live here; views are built from the rows in one place each.

type Row = ObjectLiteral;
type Raw = Record<string, unknown>;
type View = RecordView;

interface ListSpec {
  entity: EntityTarget<Row>;
  alias: string;
  /** Property of the keyset key (ids are time-ordered; parked answers have a sequence). */
  key: string;
  numericKey: boolean;
  /** Property the time window and age apply to. */
  time: string;
  /** Filter field → column, for plain equality. */
  columns: Partial<Record<keyof RecordFilter, string>>;
  /** Joins the views read (and the service filter needs). */
  join(query: SelectQueryBuilder<Row>): void;
  /** Filters that are not plain equality. */
  special?(query: SelectQueryBuilder<Row>, filter: CompiledFilter): void;
  view(row: Row, raw: Raw, now: number): View;
}

const joinExpectationAndInvocation = (alias: string) => (query: SelectQueryBuilder<Row>) => {
  query
    .leftJoin(ExpectationEntity, 'e', `e.id = ${alias}.expectationId`)
    .leftJoin(InvocationEntity, 'i', 'i.id = e.invocationId')
    .addSelect('e.waitState', 'joinedWaitState')
    .addSelect('i.service', 'joinedService');
};

const str = (value: unknown): string | undefined =>
  value === null || value === undefined ? undefined : String(value);
const json = (text: string | null): unknown =>
  text === null ? undefined : (JSON.parse(text) as unknown);

const SPECS: Record<RecordList, ListSpec> = {
  expectations: {
    entity: ExpectationEntity,
    alias: 'e',
    key: 'id',
    numericKey: false,
    time: 'createdAt',
    columns: {
      instanceId: 'e.instanceId',
      event: 'e.event',
      correlationKey: 'e.correlationKey',
      status: 'e.status',
      service: 'i.service',
    },
    join(query) {
      query
        .leftJoin(InvocationEntity, 'i', 'i.id = e.invocationId')
        .addSelect('i.service', 'joinedService')
        .addSelect('i.step', 'joinedStep')
        .addSelect(
          (sub) =>
            sub.select('COUNT(1)').from(ParkedMessageEntity, 'pa').where('pa.expectationId = e.id'),
          'parkedAnswers',
        );
    },
    view(row, raw, now): ExpectationView {
      const e = row as ExpectationEntity;
      return {
        id: e.id,
        instanceId: e.instanceId,
        invocationId: e.invocationId,
        adapter: e.adapter,
        service: str(raw.joinedService),
        step: str(raw.joinedStep),
        event: e.event,
        waitState: e.waitState,
        correlationKey: e.correlationKey ?? undefined,
        businessKey: e.businessKey ?? undefined,
        groupId: e.groupId ?? undefined,
        status: e.status,
        deadline: e.deadline ?? undefined,
        timeLeftMs: e.deadline === null ? undefined : e.deadline - now,
        timeoutTransition: e.timeoutTransition ?? undefined,
        parkedAnswers: Number(raw.parkedAnswers ?? 0),
        claimedBy: e.claimedBy ?? undefined,
        claimExpiresAt: e.claimExpiresAt ?? undefined,
        createdAt: e.createdAt,
        closedAt: e.closedAt ?? undefined,
      };
    },
  },
  parked: {
    entity: ParkedMessageEntity,
    alias: 'p',
    key: 'seq',
    numericKey: true,
    time: 'receivedAt',
    columns: {
      instanceId: 'p.instanceId',
      event: 'p.event',
      correlationKey: 'p.correlationKey',
      messageId: 'p.messageId',
      service: 'i.service',
    },
    join: joinExpectationAndInvocation('p'),
    special(query, filter) {
      if (filter.reason === 'no-expectation') query.andWhere('p.expectationId IS NULL');
      if (filter.reason === 'instance-not-ready') query.andWhere('p.expectationId IS NOT NULL');
    },
    view(row, raw, now): ParkedView {
      const p = row as ParkedMessageEntity;
      return {
        id: String(p.seq),
        messageId: p.messageId,
        event: p.event,
        correlationKey: p.correlationKey ?? undefined,
        businessKey: p.businessKey ?? undefined,
        payload: json(p.payload),
        source: p.source ?? undefined,
        reason: p.expectationId === null ? 'no-expectation' : 'instance-not-ready',
        expectationId: p.expectationId ?? undefined,
        instanceId: p.instanceId ?? undefined,
        waitState: str(raw.joinedWaitState),
        service: str(raw.joinedService),
        receivedAt: p.receivedAt,
        expiresAt: p.expiresAt,
        ttlLeftMs: p.expiresAt - now,
      };
    },
  },
  'dead-letters': {
    entity: DeadLetterEntity,
    alias: 'd',
    key: 'id',
    numericKey: false,
    time: 'createdAt',
    columns: {
      instanceId: 'd.instanceId',
      event: 'd.event',
      correlationKey: 'd.correlationKey',
      messageId: 'd.messageId',
      reason: 'd.reason',
      status: 'd.status',
      service: 'i.service',
    },
    join: joinExpectationAndInvocation('d'),
    view(row, raw): DeadLetterView {
      const d = row as DeadLetterEntity;
      return {
        id: d.id,
        messageId: d.messageId,
        event: d.event,
        correlationKey: d.correlationKey ?? undefined,
        businessKey: d.businessKey ?? undefined,
        payload: json(d.payload),
        source: d.source ?? undefined,
        reason: d.reason,
        detail: json(d.detail),
        instanceId: d.instanceId ?? undefined,
        expectationId: d.expectationId ?? undefined,
        waitState: str(raw.joinedWaitState),
        service: str(raw.joinedService),
        status: d.status,
        receivedAt: d.receivedAt,
        createdAt: d.createdAt,
        resolvedAt: d.resolvedAt ?? undefined,
      };
    },
  },
  invocations: {
    entity: InvocationEntity,
    alias: 'i',
    key: 'id',
    numericKey: false,
    time: 'createdAt',
    columns: {
      instanceId: 'i.instanceId',
      service: 'i.service',
      correlationKey: 'i.correlationKey',
      status: 'i.status',
    },
    join(query) {
      query.addSelect(
        (sub) =>
          sub.select('MAX(o.attempts)').from(OutboxEntryEntity, 'o').where('o.invocationId = i.id'),
        'attempts',
      );
    },
    view(row, raw): InvocationView {
      const i = row as InvocationEntity;
      return {
        id: i.id,
        instanceId: i.instanceId,
        activationId: i.activationId,
        step: i.step,
        adapter: i.adapter,
        service: i.service,
        correlationKey: i.correlationKey,
        status: i.status,
        lastError: json(i.lastError),
        attempts: Number(raw.attempts ?? 0),
        leaseOwner: i.leaseOwner ?? undefined,
        leaseExpiresAt: i.leaseExpiresAt ?? undefined,
        createdAt: i.createdAt,
        updatedAt: i.updatedAt,
      };
    },
  },
  guards: {
    entity: ProcessGuardEntity,
    alias: 'g',
    key: 'id',
    numericKey: false,
    time: 'startedAt',
    columns: { guardId: 'g.id', owner: 'g.owner' },
    join() {},
    special(query, filter) {
      if (filter.status === 'held') query.andWhere('g.expiresAt > :gnow', { gnow: filter.now });
      if (filter.status === 'expired') query.andWhere('g.expiresAt <= :gnow', { gnow: filter.now });
    },
    view(row, _raw, now): GuardView {
      const g = row as ProcessGuardEntity;
      return {
        id: g.id,
        owner: g.owner,
        status: g.expiresAt > now ? 'held' : 'expired',
        startedAt: g.startedAt,
        expiresAt: g.expiresAt,
        ttlLeftMs: g.expiresAt - now,
      };
    },
  },
};

/** `value` matches any field of a canonical business key; `field=value` that field only. */
function businessKeyPattern(value: string): string {
  const like = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);
  const eq = value.indexOf('=');
  if (eq > 0) {
    const pair = JSON.stringify([value.slice(0, eq), value.slice(eq + 1)]);
    return `%${like(pair)}%`;
  }
  return `%,${like(JSON.stringify(value))}]%`;
}

/** The filtered query of a list; joins only when the views or the service filter need them. */
function filtered(
  tx: EntityManager,
  filter: CompiledFilter,
  withJoins: boolean,
): { query: SelectQueryBuilder<Row>; spec: ListSpec } {
  const spec = SPECS[filter.list];
  const query = tx.createQueryBuilder(spec.entity, spec.alias);
  const needsJoin = withJoins || filter.service !== undefined;
  if (needsJoin) spec.join(query);
  for (const [field, column] of Object.entries(spec.columns) as Array<
    [keyof RecordFilter, string]
  >) {
    const value = filter[field as keyof CompiledFilter];
    if (value === undefined) continue;
    query.andWhere(`${column} = :f_${field}`, { [`f_${field}`]: value });
  }
  if (filter.businessKey !== undefined) {
    query.andWhere(`${spec.alias}.businessKey LIKE :f_bk ESCAPE '\\'`, {
      f_bk: businessKeyPattern(filter.businessKey),
    });
  }
  const time = `${spec.alias}.${spec.time}`;
  if (filter.from !== undefined) query.andWhere(`${time} >= :f_from`, { f_from: filter.from });
  if (filter.to !== undefined) query.andWhere(`${time} < :f_to`, { f_to: filter.to });
  spec.special?.(query, filter);
  return { query, spec };
}

const keyValue = (spec: ListSpec, key: string): string | number =>
  spec.numericKey ? Number(key) : key;

/** One page of a list: `limit` views after `after` (a key) in the given order, and whether more follow. */
export async function listRecords(
  tx: EntityManager,
  filter: CompiledFilter,
  page: { limit: number; order: 'newest' | 'oldest'; after?: string },
): Promise<{ items: View[]; lastKey?: string; more: boolean }> {
  const { query, spec } = filtered(tx, filter, true);
  const key = `${spec.alias}.${spec.key}`;
  const descending = page.order === 'newest';
  if (page.after !== undefined) {
    query.andWhere(`${key} ${descending ? '<' : '>'} :f_after`, {
      f_after: keyValue(spec, page.after),
    });
  }
  query.orderBy(key, descending ? 'DESC' : 'ASC').limit(page.limit + 1);
  const { entities, raw } = await query.getRawAndEntities();
  const more = entities.length > page.limit;
  const rows = entities.slice(0, page.limit);
  const items = rows.map((row, index) => spec.view(row, raw[index] as Raw, filter.now));
  const last = rows.at(-1);
  return { items, lastKey: last ? String(last[spec.key]) : undefined, more };
}

/** How many records match. */
export async function countRecords(tx: EntityManager, filter: CompiledFilter): Promise<number> {
  const { query } = filtered(tx, filter, false);
  return query.getCount();
}

/** One record of a list by its key, or null. */
export async function findRecord(
  tx: EntityManager,
  list: RecordList,
  key: string,
  now: number,
): Promise<View | null> {
  const spec = SPECS[list];
  if (spec.numericKey && !/^\d+$/.test(key)) return null;
  const { query } = filtered(tx, { list, now }, true);
  query.andWhere(`${spec.alias}.${spec.key} = :f_key`, { f_key: keyValue(spec, key) });
  const { entities, raw } = await query.getRawAndEntities();
  return entities[0] ? spec.view(entities[0], raw[0] as Raw, now) : null;
}

/**
 * Keys of the records a bulk action visits next: matching `filter`, after `after` and not above
 * `bound`, oldest first.
 */
export async function targetKeys(
  tx: EntityManager,
  filter: CompiledFilter,
  range: { after?: string; bound?: string; limit: number },
): Promise<string[]> {
  const { query, spec } = filtered(tx, filter, false);
  const key = `${spec.alias}.${spec.key}`;
  if (range.after !== undefined)
    query.andWhere(`${key} > :f_after`, { f_after: keyValue(spec, range.after) });
  if (range.bound !== undefined)
    query.andWhere(`${key} <= :f_bound`, { f_bound: keyValue(spec, range.bound) });
  const rows = await query
    .select(key, 'k')
    .orderBy(key, 'ASC')
    .limit(range.limit)
    .getRawMany<{ k: string | number }>();
  return rows.map((row) => String(row.k));
}

/** The highest key matching `filter` now: a bulk run leaves records created later alone. */
export async function highestKey(
  tx: EntityManager,
  filter: CompiledFilter,
): Promise<string | undefined> {
  const { query, spec } = filtered(tx, filter, false);
  const key = `${spec.alias}.${spec.key}`;
  const row = await query
    .select(key, 'k')
    .orderBy(key, 'DESC')
    .limit(1)
    .getRawOne<{ k: string | number }>();
  return row ? String(row.k) : undefined;
}

/** The first (oldest) records a bulk action would touch. */
export async function sampleRecords(
  tx: EntityManager,
  filter: CompiledFilter,
  limit: number,
): Promise<View[]> {
  return (await listRecords(tx, filter, { limit, order: 'oldest' })).items;
}

/** Dead letters matching `filter`, grouped by reason, event and service, largest group first. */
export async function deadLetterGroups(
  tx: EntityManager,
  filter: CompiledFilter,
): Promise<DeadLetterGroup[]> {
  const { query } = filtered(tx, filter, false);
  if (filter.service === undefined) {
    query
      .leftJoin(ExpectationEntity, 'e', 'e.id = d.expectationId')
      .leftJoin(InvocationEntity, 'i', 'i.id = e.invocationId');
  }
  const rows = await query
    .select('d.reason', 'reason')
    .addSelect('d.event', 'event')
    .addSelect('i.service', 'service')
    .addSelect('COUNT(1)', 'count')
    .addSelect('MIN(d.createdAt)', 'oldest')
    .addSelect('MAX(d.createdAt)', 'newest')
    .groupBy('d.reason')
    .addGroupBy('d.event')
    .addGroupBy('i.service')
    .getRawMany<Raw>();
  const groups = rows.map((row) => ({
    reason: row.reason as DeadLetterGroup['reason'],
    event: String(row.event),
    service: str(row.service),
    count: Number(row.count),
    oldest: Number(row.oldest),
    newest: Number(row.newest),
  }));
  return groups.sort((a, b) => b.count - a.count || b.newest - a.newest);
}
