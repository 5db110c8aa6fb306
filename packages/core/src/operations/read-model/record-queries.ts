import type { EntityManager, ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { ExpectationEntity } from '../../store/entities/expectation.entity';
import { InvocationEntity } from '../../store/entities/invocation.entity';
import type { DeadLetterGroup, RecordFilter, RecordList, RecordView } from '../operation-types';
import type { CompiledFilter } from '../record-filter';
import { SPECS, str, type ListSpec } from './record-specs';

// The operations API's reads of PSI's record tables (issue 17 moves them into a records layer).
// Filters, joins and keyset paging live here; views are built from the rows in one place each.

type Row = ObjectLiteral;
type Raw = Record<string, unknown>;
type View = RecordView;

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
