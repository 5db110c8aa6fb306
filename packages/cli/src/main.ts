import * as readline from 'node:readline/promises';
import { PsiError, PsiErrorCode, PsiOperations, type RecordList } from '@psi/core';
import { flag, has, parseArgs, type ParsedArgs } from './args';
import { openStore, type CommandContext } from './context';
import { actionCommand, cancelCommand, injectCommand } from './commands/action-commands';
import { migrateCommand } from './commands/migrate-command';
import {
  groupsCommand,
  instanceCommand,
  listCommand,
  operationsCommand,
  showCommand,
  statusCommand,
} from './commands/query-commands';
import { outputFormat, type CliIo, type OutputFormat } from './output';
import { USAGE } from './usage';
import { UsageError } from './usage-error';

const LISTS: readonly RecordList[] = [
  'expectations',
  'parked',
  'dead-letters',
  'invocations',
  'guards',
];

/** Sub-commands that act, per list. */
const ACTIONS: Partial<Record<RecordList, Record<string, Parameters<typeof actionCommand>[1]>>> = {
  parked: { release: 'release-parked', expire: 'expire-parked' },
  'dead-letters': { replay: 'replay', discard: 'discard' },
  invocations: { thaw: 'thaw' },
  guards: { release: 'release-guard' },
};

/** The process's terminal. */
export function processIo(): CliIo {
  const tty = Boolean(process.stdout.isTTY && process.stderr.isTTY);
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    isTTY: tty,
    columns: process.stdout.columns ?? 120,
    confirm: process.stdin.isTTY
      ? async (question) => {
          const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
          try {
            return /^y(es)?$/i.test((await rl.question(question)).trim());
          } finally {
            rl.close();
          }
        }
      : undefined,
  };
}

/** Runs `psi` with `argv` (without node and the script); resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let format: OutputFormat = 'text';
  try {
    const args = parseArgs(argv);
    format = outputFormat(flag(args, 'output'));
    const [command, ...rest] = args.words;
    if (!command || command === 'help' || has(args, 'help')) {
      io.stdout(USAGE);
      return command || has(args, 'help') ? 0 : 2;
    }
    if (command === 'migrate') return await migrateCommand(args, io, format);
    const run = plan(command, rest); // usage errors before the store is opened
    return await withStore(args, io, format, run);
  } catch (error) {
    return report(io, format, error);
  }
}

async function withStore(
  args: ParsedArgs,
  io: CliIo,
  format: OutputFormat,
  work: (ctx: CommandContext) => Promise<number>,
): Promise<number> {
  const store = await openStore(args);
  try {
    return await work({ args, io, format, ops: new PsiOperations(store) });
  } finally {
    await store.close();
  }
}

/** The command to run, checked before any store is opened. */
function plan(command: string, rest: string[]): (ctx: CommandContext) => Promise<number> {
  const [sub, ...more] = rest;
  if (command === 'status') return none(rest, (ctx) => statusCommand(ctx));
  if (command === 'instance') return none(more, (ctx) => instanceCommand(ctx, sub));
  if (command === 'inject') return none(rest, (ctx) => injectCommand(ctx));
  if (command === 'operations') {
    if (sub === 'cancel') return none(more.slice(1), (ctx) => cancelCommand(ctx, more[0]));
    if (sub !== undefined && sub !== 'show') throw new UsageError(`unknown "operations ${sub}"`);
    return none(more.slice(1), (ctx) => operationsCommand(ctx, sub, more[0]));
  }
  const list = LISTS.find((l) => l === command);
  if (!list) throw new UsageError(`unknown command "${command}"`);
  if (sub === undefined) return (ctx) => listCommand(ctx, list);
  if (sub === 'show') return none(more.slice(1), (ctx) => showCommand(ctx, list, more[0]));
  if (sub === 'groups' && list === 'dead-letters') return none(more, (ctx) => groupsCommand(ctx));
  const action = ACTIONS[list]?.[sub];
  if (!action) throw new UsageError(`unknown "${command} ${sub}"`);
  return (ctx) => actionCommand(ctx, action, more);
}

function none(
  extra: string[],
  run: (ctx: CommandContext) => Promise<number>,
): (ctx: CommandContext) => Promise<number> {
  if (extra.length > 0) throw new UsageError(`unexpected "${extra.join(' ')}"`);
  return run;
}

const USAGE_CODES: readonly string[] = [
  PsiErrorCode.OperationInvalid,
  PsiErrorCode.OperationReasonRequired,
  PsiErrorCode.OperationNotConfirmed,
];

/** Errors → stderr (a JSON document with -o json/jsonl) and the exit code. */
function report(io: CliIo, format: OutputFormat, error: unknown): number {
  const usage =
    error instanceof UsageError || (PsiError.is(error) && USAGE_CODES.includes(error.code));
  const code = PsiError.is(error)
    ? error.code
    : usage
      ? 'PSI_CLI_USAGE'
      : error instanceof Error
        ? error.name
        : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  if (format === 'text') {
    io.stderr(`psi: ${message}\n`);
    if (usage) io.stderr('run "psi help" for the commands and options\n');
  } else {
    io.stderr(`${JSON.stringify({ error: { code, message } })}\n`);
  }
  return usage ? 2 : 1;
}
