import { UsageError } from './usage-error';

/** Flags that take a value. */
const VALUE_FLAGS = new Set([
  'url',
  'schema',
  'sqlite',
  'output',
  'limit',
  'cursor',
  'instance',
  'event',
  'service',
  'correlation-key',
  'business-key',
  'message-id',
  'cause',
  'status',
  'guard',
  'owner',
  'from',
  'to',
  'older-than',
  'newer-than',
  'reason',
  'actor',
  'rps',
  'timeout',
  'node-timeout',
  'payload',
  'window',
]);

/** Flags that are on or off. */
const BOOLEAN_FLAGS = new Set([
  'dry-run',
  'yes',
  'oldest',
  'all-pages',
  'match-all',
  'no-wait',
  'help',
]);

const SHORT: Record<string, string> = { o: 'output', y: 'yes', h: 'help' };

/** A parsed command line: words in order, and flags by name. */
export interface ParsedArgs {
  words: string[];
  flags: Map<string, string | true>;
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const words: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      words.push(...argv.slice(i + 1));
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    } else if (/^-[a-zA-Z]$/.test(arg)) {
      name = SHORT[arg.slice(1)];
      if (!name) throw new UsageError(`unknown option "${arg}"`);
    }
    if (name === undefined) {
      words.push(arg);
      continue;
    }
    if (BOOLEAN_FLAGS.has(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else if (VALUE_FLAGS.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`missing value for --${name}`);
      flags.set(name, value);
    } else {
      throw new UsageError(`unknown option "--${name}"`);
    }
  }
  return { words, flags };
}

/** A flag's string value, if given. */
export function flag(args: ParsedArgs, name: string): string | undefined {
  const value = args.flags.get(name);
  return typeof value === 'string' ? value : undefined;
}

export function has(args: ParsedArgs, name: string): boolean {
  return args.flags.get(name) === true;
}

/** Refuses flags a command does not take (a typo must not change what it acts on). */
export function allowOnly(args: ParsedArgs, allowed: readonly string[], command: string): void {
  for (const name of args.flags.keys()) {
    if (!allowed.includes(name)) throw new UsageError(`"${command}" takes no --${name}`);
  }
}

/** `90s`, `15m`, `2h`, `7d`, or plain milliseconds. */
export function parseDuration(text: string, name: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match)
    throw new UsageError(`--${name}: "${text}" is not a duration (e.g. 90s, 15m, 2h, 7d)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 'ms'] ?? 1;
  return Math.round(Number(match[1]) * unit);
}

/** An ISO date-time or epoch milliseconds. */
export function parseTime(text: string, name: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  const ms = Date.parse(text);
  if (Number.isNaN(ms))
    throw new UsageError(`--${name}: "${text}" is not an ISO date-time or epoch ms`);
  return ms;
}

export function parsePositiveInt(text: string, name: string, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new UsageError(`--${name} must be an integer from 1 to ${max}`);
  return n;
}
