import type { PsiStore } from '@psi/core';

/**
 * Fills a store with rows as PSI writes them, fast: one real instance of each kind is run
 * through PSI first (the templates), then each template's rows are copied N times in SQL
 * (a recursive CTE on SQLite, generate_series on PostgreSQL), every id, key and instance id in
 * every text column replaced by the copy's own. The copies have the template's columns, value
 * shapes and index entries, which is what the population costs the queries.
 */

/** The ids of one template instance, found in its rows and replaced in each copy. */
export interface TemplateIds {
  instanceId: string;
  /** Further values to replace in every text column (invocation, expectation ids, keys). */
  replace: readonly string[];
}

/** The tables a template instance has rows in, and which column names it. */
const TABLES: ReadonlyArray<{ table: string; where: string; skip?: readonly string[] }> = [
  { table: 'psi_invocation', where: '"instanceId" = :instance' },
  { table: 'psi_expectation', where: '"instanceId" = :instance' },
  { table: 'psi_engine_instance', where: '"instanceId" = :instance' },
  {
    table: 'psi_outbox',
    where: '"invocationId" IN (SELECT "id" FROM "psi_invocation" WHERE "instanceId" = :instance)',
  },
  { table: 'psi_audit', where: '"instanceId" = :instance', skip: ['seq'] },
];

/** Copies the rows of one template instance `count` times; `tag` keeps copies' ids apart. */
export async function copyInstance(
  store: PsiStore,
  template: TemplateIds,
  count: number,
  tag: string,
  overrides: Readonly<Record<string, (i: string) => string>> = {},
): Promise<number> {
  let rows = 0;
  for (const { table, where, skip } of TABLES) {
    rows += await copyRows(store, table, where, template, count, tag, overrides, skip ?? []);
  }
  return rows;
}

/** Copies the parked row `seq` `count` times (its message id and keys made unique). */
export async function copyParked(
  store: PsiStore,
  seq: number,
  replace: readonly string[],
  count: number,
  tag: string,
): Promise<number> {
  return copyRows(
    store,
    'psi_parked_message',
    `"seq" = ${seq}`,
    { instanceId: '', replace },
    count,
    tag,
    {},
    ['seq'],
  );
}

const CHUNK = 50_000;

async function copyRows(
  store: PsiStore,
  table: string,
  where: string,
  template: TemplateIds,
  count: number,
  tag: string,
  overrides: Readonly<Record<string, (i: string) => string>>,
  skip: readonly string[],
): Promise<number> {
  if (count === 0) return 0;
  const postgres = store.kind === 'postgres';
  const columns = await columnsOf(store, table);
  const condition = where.replace(':instance', quote(template.instanceId));
  const [{ n }] = (await store.dataSource.query(
    `SELECT COUNT(*) AS n FROM "${table}" WHERE ${condition}`,
  )) as Array<{ n: string | number }>;
  if (Number(n) === 0) return 0;
  const values = [template.instanceId, ...template.replace].filter((v) => v.length > 0);
  const kept = columns.filter((c) => !skip.includes(c.name));
  for (let from = 0; from < count; from += CHUNK) {
    const size = Math.min(CHUNK, count - from);
    // i: the copy's number, zero-padded so copies sort in creation order.
    const i = postgres ? `lpad((s.i)::text, 9, '0')` : `printf('%09d', s.i)`;
    const select = kept.map(({ name, text }) => {
      const override = overrides[name];
      if (override) return override(i);
      if (!text) return `t."${name}"`;
      return values.reduce(
        (sql, value) => `REPLACE(${sql}, ${quote(value)}, ${copyIdSql(value, tag, i)})`,
        `t."${name}"`,
      );
    });
    const list = kept.map((c) => `"${c.name}"`).join(', ');
    const source = `(SELECT * FROM "${table}" WHERE ${condition}) t`;
    const sql = postgres
      ? `INSERT INTO "${table}" (${list}) SELECT ${select.join(', ')} ` +
        `FROM generate_series(${from}, ${from + size - 1}) AS s(i), ${source}`
      : `WITH RECURSIVE s(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM s WHERE i < ${from + size - 1}) ` +
        `INSERT INTO "${table}" (${list}) SELECT ${select.join(', ')} FROM s, ${source}`;
    await store.dataSource.query(sql);
  }
  return Number(n) * count;
}

/**
 * The copy's value for a template value, as SQL: `00000000-<tag>-<i>-<hash of value>`; below
 * every UUID v7 PSI generates later (as older rows are), distinct per template value.
 */
function copyIdSql(value: string, tag: string, i: string): string {
  return `'00000000-${tag}-' || ${i} || '-${shortHash(value)}'`;
}

function shortHash(value: string): string {
  let h = 0;
  for (const ch of value) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h.toString(36);
}

function quote(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

async function columnsOf(
  store: PsiStore,
  table: string,
): Promise<Array<{ name: string; text: boolean }>> {
  if (store.kind === 'postgres') {
    const rows = (await store.dataSource.query(
      `SELECT column_name AS name, data_type AS type FROM information_schema.columns ` +
        `WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
      [table],
    )) as Array<{ name: string; type: string }>;
    return rows.map((r) => ({ name: r.name, text: /char|text/.test(r.type) }));
  }
  const rows = (await store.dataSource.query(`PRAGMA table_info("${table}")`)) as Array<{
    name: string;
    type: string;
  }>;
  return rows.map((r) => ({ name: r.name, text: /char|text/i.test(r.type) }));
}
