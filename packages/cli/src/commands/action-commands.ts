import * as os from 'node:os';
import {
  ACTION_LISTS,
  isFinished,
  type ActionPreview,
  type InjectedAnswer,
  type OperationItemView,
  type OperationView,
  type OperatorAction,
} from '@psi/core';
import { allowOnly, flag, has, parseDuration } from '../args';
import { actorOf, FILTER_FLAGS, recordFilter, STORE_FLAGS, type CommandContext } from '../context';
import { renderTable, writeDocument } from '../output';
import { UsageError } from '../usage-error';
import { itemColumns, listColumns, operationColumns } from './tables';

const ACTION_FLAGS = [
  ...STORE_FLAGS,
  'output',
  'reason',
  'actor',
  'dry-run',
  'yes',
  'rps',
  'no-wait',
  'timeout',
  'node-timeout',
];

/** Actions that are store writes only: the CLI runs them itself, no node needed. */
const STORE_ONLY: readonly OperatorAction[] = ['discard', 'expire-parked', 'release-guard'];

/**
 * `psi <list> <action> [ids…] [filters] --reason …`: a dry run (`--dry-run`), or the action on
 * the ids, or in bulk on every record the filters match (confirmed on the terminal or `--yes`).
 */
export async function actionCommand(
  ctx: CommandContext,
  action: Exclude<OperatorAction, 'inject'>,
  ids: string[],
): Promise<number> {
  allowOnly(ctx.args, [...ACTION_FLAGS, ...FILTER_FLAGS, 'match-all'], action);
  const filter = recordFilter(ctx.args);
  const hasFilter = Object.keys(filter).length > 0;
  if (ids.length > 0 && (hasFilter || has(ctx.args, 'match-all')))
    throw new UsageError('give ids or filters, not both');
  if (ids.length === 0 && !hasFilter && !has(ctx.args, 'match-all'))
    throw new UsageError(
      'give ids, filters, or --match-all for every record the action applies to',
    );
  const dryRun = has(ctx.args, 'dry-run');
  const reason = flag(ctx.args, 'reason');
  if (!dryRun && !reason?.trim())
    throw new UsageError('--reason is required: it is kept in the audit trail with who acted');
  const list = ACTION_LISTS[action].list;
  const preview: ActionPreview =
    ids.length > 0
      ? {
          action,
          list,
          count: ids.length,
          sample: await Promise.all(ids.map((id) => ctx.ops.get(list, id))),
        }
      : await ctx.ops.preview({ action, filter });
  if (dryRun) {
    if (ctx.format === 'text') {
      ctx.io.stdout(
        `dry run: ${action} would apply to ${preview.count} ${list} record(s)${preview.count > preview.sample.length ? `; the first ${preview.sample.length}` : ''}:\n`,
      );
      ctx.io.stdout(renderTable(preview.sample, listColumns(list, Date.now()), ctx.io.columns));
    } else writeDocument(ctx.io, ctx.format, { dryRun: true, ...preview });
    return 0;
  }
  if (ids.length === 0 && !has(ctx.args, 'yes')) {
    if (!ctx.io.confirm)
      throw new UsageError(
        `a bulk ${action} of ${preview.count} record(s) needs --yes (or a terminal to confirm); check it with --dry-run first`,
      );
    ctx.io.stderr(renderTable(preview.sample, listColumns(list, Date.now()), ctx.io.columns));
    if (!(await ctx.io.confirm(`${action} ${preview.count} ${list} record(s)? [y/N] `))) {
      ctx.io.stderr('not confirmed: nothing done\n');
      return 1;
    }
  }
  const run = await ctx.ops.submit({
    action,
    target: ids.length > 0 ? { ids } : { filter },
    by: { actor: actorOf(ctx.args), reason: reason ?? '', channel: 'cli' },
    confirmed: ids.length === 0,
    ratePerSecond: rate(ctx),
  });
  return finish(ctx, run, STORE_ONLY.includes(action));
}

/** `psi inject --event e --payload '{…}' [--correlation-key k] [--business-key f=v,…] --reason …`. */
export async function injectCommand(ctx: CommandContext): Promise<number> {
  allowOnly(
    ctx.args,
    [...ACTION_FLAGS, 'event', 'payload', 'correlation-key', 'business-key', 'message-id'],
    'inject',
  );
  const event = flag(ctx.args, 'event');
  if (!event) throw new UsageError('inject needs --event');
  const reason = flag(ctx.args, 'reason');
  if (!reason?.trim())
    throw new UsageError('--reason is required: it is kept in the audit trail with who acted');
  let payload: unknown;
  try {
    payload = JSON.parse(flag(ctx.args, 'payload') ?? 'null');
  } catch {
    throw new UsageError('--payload must be JSON');
  }
  const message: InjectedAnswer = { event, payload };
  const key = flag(ctx.args, 'correlation-key');
  if (key) message.correlationKey = key;
  const messageId = flag(ctx.args, 'message-id');
  if (messageId) message.messageId = messageId;
  const business = flag(ctx.args, 'business-key');
  if (business) {
    message.businessKey = Object.fromEntries(
      business.split(',').map((pair) => {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new UsageError('--business-key takes field=value[,field=value]');
        return [pair.slice(0, eq), pair.slice(eq + 1)];
      }),
    );
  }
  if (has(ctx.args, 'dry-run')) {
    writeDocument(ctx.io, ctx.format === 'text' ? 'json' : ctx.format, {
      dryRun: true,
      action: 'inject',
      message,
    });
    return 0;
  }
  const run = await ctx.ops.submit({
    action: 'inject',
    message,
    by: { actor: actorOf(ctx.args), reason, channel: 'cli' },
  });
  return finish(ctx, run, false);
}

/** `psi operations cancel <id> --reason …`. */
export async function cancelCommand(ctx: CommandContext, id: string | undefined): Promise<number> {
  allowOnly(ctx.args, [...STORE_FLAGS, 'output', 'reason', 'actor'], 'operations cancel');
  if (!id) throw new UsageError('operations cancel needs an operation id');
  const reason = flag(ctx.args, 'reason');
  if (!reason?.trim())
    throw new UsageError('--reason is required: it is kept in the audit trail with who acted');
  const cancelled = await ctx.ops.cancel(id, { actor: actorOf(ctx.args), reason, channel: 'cli' });
  const operation = await ctx.ops.operation(id);
  if (ctx.format === 'text')
    ctx.io.stdout(
      cancelled ? `cancelled ${id}\n` : `${id} had already ended (${operation.status})\n`,
    );
  else writeDocument(ctx.io, ctx.format, { cancelled, operation });
  return cancelled ? 0 : 1;
}

function rate(ctx: CommandContext): number | undefined {
  const rps = flag(ctx.args, 'rps');
  if (rps === undefined) return undefined;
  const n = Number(rps);
  if (!(n > 0) || n > 10_000) throw new UsageError('--rps must be a number above 0, at most 10000');
  return n;
}

/**
 * Waits for the run (running it here when the action is store-only), shows progress on stderr,
 * prints the result; 0 when every item succeeded or was skipped, 1 otherwise.
 */
async function finish(
  ctx: CommandContext,
  submitted: OperationView,
  storeOnly: boolean,
): Promise<number> {
  if (has(ctx.args, 'no-wait')) {
    if (ctx.format === 'text')
      ctx.io.stdout(`submitted ${submitted.id}: psi operations show ${submitted.id}\n`);
    else writeDocument(ctx.io, ctx.format, { operation: submitted, items: [] });
    return 0;
  }
  const runner = storeOnly
    ? ctx.ops.storeActionRunner({
        nodeId: `cli-${os.hostname()}-${process.pid}`,
        only: submitted.id,
      })
    : undefined;
  runner?.start();
  let run: OperationView;
  try {
    const progress = progressReporter(ctx);
    const nodeTimeout = parseDuration(flag(ctx.args, 'node-timeout') ?? '15s', 'node-timeout');
    run = await ctx.ops.waitFor(submitted.id, { timeoutMs: nodeTimeout, onProgress: progress });
    if (run.status === 'pending') {
      ctx.io.stderr(
        `no node took operation ${run.id} within ${flag(ctx.args, 'node-timeout') ?? '15s'}: is a coordinator running on this store? ` +
          `It stays queued and runs when one starts (psi operations show ${run.id}; psi operations cancel ${run.id} to drop it).\n`,
      );
      return 1;
    }
    const timeout = flag(ctx.args, 'timeout');
    run = await ctx.ops.waitFor(submitted.id, {
      timeoutMs: timeout ? parseDuration(timeout, 'timeout') : 24 * 3_600_000,
      onProgress: progress,
    });
    progress.done();
  } finally {
    await runner?.stop();
  }
  const items = await ctx.ops.items(run.id, { limit: 1000 });
  if (!isFinished(run.status)) {
    ctx.io.stderr(
      `operation ${run.id} is still ${run.status} after --timeout; it goes on (psi operations show ${run.id})\n`,
    );
  }
  if (ctx.format !== 'text') writeDocument(ctx.io, ctx.format, { operation: run, items });
  else printResult(ctx, run, items);
  return run.status === 'done' && run.failed === 0 ? 0 : 1;
}

function printResult(ctx: CommandContext, run: OperationView, items: OperationItemView[]): void {
  ctx.io.stdout(renderTable([run], operationColumns, ctx.io.columns));
  const shown =
    items.length <= 20
      ? items
      : [...items.slice(0, 20), ...items.slice(20).filter((i) => i.status === 'failed')];
  ctx.io.stdout(`\n${renderTable(shown, itemColumns, ctx.io.columns)}`);
  if (shown.length < items.length)
    ctx.io.stdout(`(${items.length - shown.length} more: psi operations show ${run.id})\n`);
}

/** Progress of a bulk run on stderr: redrawn in place on a terminal, a line a second otherwise. */
function progressReporter(ctx: CommandContext): ((run: OperationView) => void) & { done(): void } {
  let last = 0;
  let drawn = false;
  const started = Date.now();
  const report = (run: OperationView) => {
    if (run.total <= 1) return;
    const processed = run.succeeded + run.failed + run.skipped;
    const seconds = (Date.now() - started) / 1000;
    const line = `${run.action}: ${processed}/${run.total} (${run.failed} failed, ${run.skipped} skipped)${seconds > 1 ? ` ${Math.round(processed / seconds)}/s` : ''} [${run.status}]`;
    if (ctx.io.isTTY) {
      ctx.io.stderr(`\r${line}`);
      drawn = true;
    } else if (Date.now() - last >= 1000 || isFinished(run.status)) {
      ctx.io.stderr(`${line}\n`);
      last = Date.now();
    }
  };
  return Object.assign(report, {
    done: () => {
      if (drawn) ctx.io.stderr('\n');
    },
  });
}
