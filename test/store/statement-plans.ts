import * as sqlite3 from 'sqlite3';
import type { PsiStore } from '@psi/core';
import type { StoreKind } from '../foundation/test-stores';

/** One statement as the store's driver received it: SQL text with placeholders, and its values. */
export interface CapturedStatement {
  sql: string;
  values: unknown[];
}

/** A statement whose plan reads a whole table (or a whole index that is not partial). */
export interface PlanScan {
  sql: string;
  /** The plan lines (SQLite) or nodes (PostgreSQL) that scan. */
  scans: string[];
}

type Method = (this: unknown, ...args: unknown[]) => unknown;
type Methods = Record<string, Method>;

/**
 * Records every statement sent to a driver of `kind` while the capture runs, from stores
 * opened before or after it starts: sqlite3's and better-sqlite3's prepared statements (where
 * TypeORM and PSI's row statements both end) and `pg.Client#query`. What is recorded is what
 * the code issues, so a later change to a query is checked as it is written, not as a test
 * copied it. `stop()` removes the wrappers.
 */
export function captureStatements(kind: StoreKind): {
  statements: CapturedStatement[];
  stop(): void;
} {
  const statements: CapturedStatement[] = [];
  const restores: Array<() => void> = [];
  const wrap = (
    prototype: Methods,
    names: readonly string[],
    read: (self: unknown, args: unknown[]) => CapturedStatement | undefined,
  ): void => {
    for (const name of names) {
      const original = prototype[name];
      prototype[name] = function (this: unknown, ...args: unknown[]) {
        const statement = read(this, args);
        if (statement) statements.push(statement);
        return original.apply(this, args);
      };
      restores.push(() => (prototype[name] = original));
    }
  };
  if (kind === 'sqlite') {
    wrap(
      sqlite3.Statement.prototype as unknown as Methods,
      ['run', 'all', 'get'],
      (self, args) => ({
        sql: (self as { sql: string }).sql,
        values: Array.isArray(args[0]) ? (args[0] as unknown[]) : [],
      }),
    );
  } else if (kind === 'better-sqlite3') {
    // Its Statement class is not exported: take the prototype of one statement.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const BetterSqlite3 = require('better-sqlite3') as new (file: string) => {
      prepare(sql: string): object;
      close(): void;
    };
    const probe = new BetterSqlite3(':memory:');
    const prototype = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Methods;
    probe.close();
    wrap(prototype, ['run', 'all', 'get', 'iterate'], (self, args) => ({
      sql: (self as { source: string }).source,
      values: args,
    }));
  } else {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pg = require('pg') as { Client: { prototype: Methods } };
    wrap(pg.Client.prototype, ['query'], (_self, [first, second]) => {
      if (typeof first === 'string')
        return { sql: first, values: Array.isArray(second) ? (second as unknown[]) : [] };
      if (first && typeof first === 'object' && 'text' in first) {
        const config = first as { text: string; values?: unknown[] };
        return { sql: config.text, values: config.values ?? [] };
      }
      return undefined;
    });
  }
  return { statements, stop: () => restores.splice(0).forEach((restore) => restore()) };
}

/**
 * Statements with a plan on PSI's tables: reads and writes of rows, not transaction control,
 * DDL, or the migration bookkeeping and catalog reads of opening a store.
 */
function planned(sql: string): boolean {
  return (
    /^\s*(SELECT|UPDATE|DELETE|INSERT|WITH)\b/i.test(sql) &&
    !/sqlite_master|psi_migrations|information_schema|pg_catalog|\bpg_/i.test(sql)
  );
}

/**
 * The distinct statements (by SQL text) among `captured` whose plan scans a table of the
 * store, or the whole of an index that is not partial (a partial index holds only the rows its
 * predicate names: open, claimed, due). PostgreSQL plans with `enable_seqscan = off`, so that a
 * near-empty test table does not make a sequential scan the cheaper choice: a scan that comes
 * back then is one no index can replace.
 */
export async function scansAmong(
  store: PsiStore,
  captured: readonly CapturedStatement[],
): Promise<PlanScan[]> {
  const distinct = new Map<string, CapturedStatement>();
  for (const statement of captured) {
    if (planned(statement.sql) && !bounded(statement.sql) && !distinct.has(statement.sql))
      distinct.set(statement.sql, statement);
  }
  const partial = await partialIndexes(store);
  const found: PlanScan[] = [];
  const runner = store.dataSource.createQueryRunner();
  try {
    // Generic plans, as PSI's named prepared statements get after a few runs: the planner
    // does not see the values, so a partial index serves only predicates written as literals.
    if (store.kind === 'postgres') {
      await runner.query('SET enable_seqscan = off');
      await runner.query('SET plan_cache_mode = force_generic_plan');
    }
    for (const statement of distinct.values()) {
      const scans =
        store.kind === 'sqlite'
          ? sqliteScans(
              (await runner.query(
                `EXPLAIN QUERY PLAN ${statement.sql}`,
                statement.values,
              )) as Array<{
                detail: string;
              }>,
              partial,
            )
          : postgresScans(
              (
                (await runner.query(
                  `EXPLAIN (FORMAT JSON) ${statement.sql}`,
                  statement.values,
                )) as Array<{ 'QUERY PLAN': Array<{ Plan: PostgresPlanNode }> }>
              )[0]['QUERY PLAN'][0].Plan,
              partial,
            );
      // PSI_PLANS_DEBUG=1 prints every statement with its plan (to read what the check sees).
      if (process.env.PSI_PLANS_DEBUG) {
        const plan = (await runner.query(
          store.kind === 'sqlite'
            ? `EXPLAIN QUERY PLAN ${statement.sql}`
            : `EXPLAIN ${statement.sql}`,
          statement.values,
        )) as Array<Record<string, string>>;
        process.stderr.write(
          `\n${statement.sql.replace(/"e"\."\w+" AS "e_\w+", /g, '')}\n  ${plan.map((r) => r.detail ?? r['QUERY PLAN']).join('\n  ')}\n`,
        );
      }
      if (scans.length > 0) found.push({ sql: statement.sql, scans });
    }
  } finally {
    if (store.kind === 'postgres') await runner.query('RESET ALL');
    await runner.release();
  }
  return found;
}

/** A statement without WHERE that reads a LIMIT of rows reads that many, whatever the plan. */
function bounded(sql: string): boolean {
  return !/\bWHERE\b/i.test(sql) && /\bLIMIT \d+$/i.test(sql);
}

async function partialIndexes(store: PsiStore): Promise<Set<string>> {
  const rows = (await store.dataSource.query(
    store.kind === 'sqlite'
      ? `SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'`
      : // pg_index's predicate, not pg_indexes' definition text: pg_get_indexdef() fails with
        // "could not open relation" when another test drops its schema at the same moment.
        `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND i.indpred IS NOT NULL`,
  )) as Array<{ name: string }>;
  return new Set(rows.map((r) => r.name));
}

/**
 * `SCAN t` and `SCAN t USING INDEX i` (i not partial) read every row of t; so does a search
 * whose only bound is a range on the primary key (`id>?`: paging through the whole table).
 */
function sqliteScans(plan: Array<{ detail: string }>, partial: Set<string>): string[] {
  return plan
    .map((row) => row.detail)
    .filter((detail) => {
      const keyRange = /^SEARCH \S+ USING (?:COVERING )?INDEX sqlite_autoindex_\w+ \(\w+[<>]\?\)$/;
      if (keyRange.test(detail)) return true;
      const scan = /^SCAN (\d+-ROW VALUES CLAUSE|\S+)(?: USING (?:COVERING )?INDEX (\S+))?/.exec(
        detail,
      );
      if (!scan || /^\d+(-ROW VALUES CLAUSE)?$|^CONSTANT$/.test(scan[1])) return false;
      return scan[2] === undefined || !partial.has(scan[2]);
    });
}

interface PostgresPlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PostgresPlanNode[];
}

/** A Seq Scan, or an index scan with no Index Cond over an index that is not partial. */
function postgresScans(plan: PostgresPlanNode, partial: Set<string>): string[] {
  const scans: string[] = [];
  const visit = (node: PostgresPlanNode): void => {
    const type = node['Node Type'];
    if (type === 'Seq Scan') scans.push(`Seq Scan on ${node['Relation Name']}`);
    const index = node['Index Name'];
    if (index !== undefined && !partial.has(index)) {
      const condition = node['Index Cond'];
      if (condition === undefined) scans.push(`${type} on ${index} without an index condition`);
      // Paging through the whole table by its key: a lone range on the primary key.
      else if (/^PK_/.test(index) && /^\(\w+ [<>]=? [^()]*\)$/.test(condition))
        scans.push(`${type} on ${index}: a range on the key alone, ${condition}`);
    }
    node.Plans?.forEach(visit);
  };
  visit(plan);
  return scans;
}
