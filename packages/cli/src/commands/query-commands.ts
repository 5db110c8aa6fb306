import type { OperationStatus, RecordList, RecordView } from '@psi/core';
import { allowOnly, flag, has, parseDuration, parsePositiveInt } from '../args';
import { FILTER_FLAGS, recordFilter, STORE_FLAGS, type CommandContext } from '../context';
import { renderTable, writeDocument } from '../output';
import { UsageError } from '../usage-error';
import {
  groupColumns,
  itemColumns,
  listColumns,
  operationColumns,
  timelineColumns,
} from './tables';

const COMMON = [...STORE_FLAGS, 'output'];
const PAGING = ['limit', 'cursor', 'oldest', 'all-pages'];

/** `psi <list> [filters]`: one page (or every page) of a list. */
export async function listCommand(ctx: CommandContext, list: RecordList): Promise<number> {
  allowOnly(ctx.args, [...COMMON, ...PAGING, ...FILTER_FLAGS], list);
  const filter = recordFilter(ctx.args);
  const limit = parsePositiveInt(flag(ctx.args, 'limit') ?? '50', 'limit', 1000);
  const order = has(ctx.args, 'oldest') ? 'oldest' : 'newest';
  const all = has(ctx.args, 'all-pages');
  let cursor = flag(ctx.args, 'cursor');
  const items: RecordView[] = [];
  let nextCursor: string | undefined;
  do {
    const page = await ctx.ops.list(list, filter, { limit, order, cursor });
    if (ctx.format === 'jsonl')
      for (const item of page.items) ctx.io.stdout(`${JSON.stringify(item)}\n`);
    else items.push(...page.items);
    nextCursor = page.nextCursor;
    cursor = nextCursor;
  } while (all && nextCursor);
  if (ctx.format === 'json')
    writeDocument(ctx.io, 'json', { list, items, nextCursor: nextCursor ?? null });
  if (ctx.format === 'text') {
    ctx.io.stdout(renderTable(items, listColumns(list, Date.now()), ctx.io.columns));
    if (nextCursor) ctx.io.stdout(`more: add --cursor ${nextCursor}\n`);
  }
  return 0;
}

/** `psi <list> show <id>`: one record, whole. */
export async function showCommand(
  ctx: CommandContext,
  list: RecordList,
  id: string | undefined,
): Promise<number> {
  allowOnly(ctx.args, COMMON, `${list} show`);
  if (!id) throw new UsageError(`${list} show needs an id`);
  const record = await ctx.ops.get(list, id);
  if (ctx.format === 'text') ctx.io.stdout(`${JSON.stringify(record, null, 2)}\n`);
  else writeDocument(ctx.io, ctx.format, { list, record });
  return 0;
}

/** `psi dead-letters groups [filters]`. */
export async function groupsCommand(ctx: CommandContext): Promise<number> {
  allowOnly(ctx.args, [...COMMON, ...FILTER_FLAGS], 'dead-letters groups');
  const groups = await ctx.ops.deadLetterGroups(recordFilter(ctx.args));
  if (ctx.format === 'text') ctx.io.stdout(renderTable(groups, groupColumns, ctx.io.columns));
  else if (ctx.format === 'jsonl') for (const g of groups) ctx.io.stdout(`${JSON.stringify(g)}\n`);
  else writeDocument(ctx.io, 'json', { groups });
  return 0;
}

/** `psi instance <id>`: the instance's records and its timeline. */
export async function instanceCommand(
  ctx: CommandContext,
  instanceId: string | undefined,
): Promise<number> {
  allowOnly(ctx.args, COMMON, 'instance');
  if (!instanceId) throw new UsageError('instance needs an instance id');
  const timeline = await ctx.ops.timeline(instanceId);
  if (ctx.format !== 'text') {
    writeDocument(ctx.io, ctx.format, timeline);
    return 0;
  }
  const now = Date.now();
  const out = ctx.io.stdout;
  out(`instance ${instanceId}\n`);
  out(
    `  ${timeline.invocations.length} invocation(s), ${timeline.expectations.filter((e) => e.status === 'open').length} open expectation(s), ` +
      `${timeline.parked.length} parked answer(s), ${timeline.deadLetters.filter((d) => d.status === 'open').length} open dead letter(s)\n\n`,
  );
  for (const [title, list, rows] of [
    ['waits for', 'expectations', timeline.expectations.filter((e) => e.status === 'open')],
    ['parked', 'parked', timeline.parked],
    ['dead letters', 'dead-letters', timeline.deadLetters],
  ] as Array<[string, RecordList, RecordView[]]>) {
    if (rows.length === 0) continue;
    out(`${title}:\n${renderTable(rows, listColumns(list, now), ctx.io.columns)}\n`);
  }
  out(`timeline:\n${renderTable(timeline.entries, timelineColumns, ctx.io.columns)}`);
  return 0;
}

/** `psi status`: counts, and the runs in progress. */
export async function statusCommand(ctx: CommandContext): Promise<number> {
  allowOnly(ctx.args, [...COMMON, 'window'], 'status');
  const windowMs = parseDuration(flag(ctx.args, 'window') ?? '24h', 'window');
  const overview = await ctx.ops.overview({ windowMs });
  const operations = await ctx.ops.operations({ status: ['pending', 'running'] });
  if (ctx.format !== 'text') {
    writeDocument(ctx.io, ctx.format, { overview, operations });
    return 0;
  }
  const o = overview;
  const reasons = Object.entries(o.deadLetters.byReason)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  const sum = (key: 'parked' | 'deadLettered' | 'delivered') =>
    o.activity.buckets.reduce((n, b) => n + b[key], 0);
  ctx.io.stdout(
    [
      `expectations  ${o.expectations.open} open, ${o.expectations.overdue} overdue, ${o.expectations.claimed} being delivered`,
      `parked        ${o.parked.total} (${o.parked.instanceNotReady} waiting for their instance, ${o.parked.noExpectation} for an expectation)`,
      `dead letters  ${o.deadLetters.open} open${reasons ? ` (${reasons})` : ''}`,
      `invocations   ${o.invocations.frozen} frozen, ${o.invocations.running} running, ${o.invocations.waiting} waiting`,
      `guards        ${o.guards.held} held`,
      `operations    ${o.operations.active} pending or running`,
      `last ${flag(ctx.args, 'window') ?? '24h'}: ${sum('delivered')} delivered, ${sum('parked')} parked, ${sum('deadLettered')} dead-lettered`,
      '',
    ].join('\n'),
  );
  if (operations.length > 0)
    ctx.io.stdout(renderTable(operations, operationColumns, ctx.io.columns));
  return 0;
}

/** `psi operations [--status s]`, `psi operations show <id>`. */
export async function operationsCommand(
  ctx: CommandContext,
  sub: string | undefined,
  id: string | undefined,
): Promise<number> {
  if (sub === 'show') {
    allowOnly(ctx.args, [...COMMON, 'limit'], 'operations show');
    if (!id) throw new UsageError('operations show needs an operation id');
    const operation = await ctx.ops.operation(id);
    const items = await ctx.ops.items(id, {
      limit: parsePositiveInt(flag(ctx.args, 'limit') ?? '1000', 'limit', 1000),
    });
    if (ctx.format !== 'text') writeDocument(ctx.io, ctx.format, { operation, items });
    else {
      ctx.io.stdout(renderTable([operation], operationColumns, ctx.io.columns));
      ctx.io.stdout(`\n${renderTable(items, itemColumns, ctx.io.columns)}`);
    }
    return 0;
  }
  if (sub !== undefined) throw new UsageError(`unknown "operations ${sub}"`);
  allowOnly(ctx.args, [...COMMON, 'status', 'limit'], 'operations');
  const status = flag(ctx.args, 'status');
  const operations = await ctx.ops.operations({
    status: status ? (status.split(',') as OperationStatus[]) : undefined,
    limit: parsePositiveInt(flag(ctx.args, 'limit') ?? '50', 'limit', 1000),
  });
  if (ctx.format === 'text')
    ctx.io.stdout(renderTable(operations, operationColumns, ctx.io.columns));
  else if (ctx.format === 'jsonl')
    for (const o of operations) ctx.io.stdout(`${JSON.stringify(o)}\n`);
  else writeDocument(ctx.io, 'json', { operations });
  return 0;
}
