import * as fs from 'node:fs';

/**
 * What a peers cell measures besides its own process: CPU of other processes read from /proc
 * (Linux; elsewhere, or for a server on another machine, nothing is found and the server column
 * stays empty), and the statements a node-postgres module sends.
 */

/** Clock ticks per second of /proc's utime/stime: 100 on Linux x86-64 and arm64. */
const CLOCK_TICKS = 100;

/** utime + stime of a process (all its threads) in µs, or undefined once it is gone. */
export function processCpuMicros(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm) ": state is field 3, utime field 14, stime field 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

function readProc(pid: string, file: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

/**
 * The PostgreSQL processes that work for `database`: its backends and autovacuum workers, and the
 * WAL writer, checkpointer and background writer, which every commit on the server needs (so
 * other databases' traffic is included in those three). Found by title ("postgres: 15/main:
 * <user> <database> <client> <state>").
 */
export function postgresPids(database: string): number[] {
  const pids: number[] = [];
  const backend = new RegExp(`: \\S+ ${escape(database)} `);
  const autovacuum = new RegExp(`autovacuum worker.* ${escape(database)}\\b`);
  const shared = /: (walwriter|checkpointer|background writer)\s*$/;
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || readProc(entry, 'comm').trim() !== 'postgres') continue;
    const title = readProc(entry, 'cmdline').replace(/\0/g, ' ').trim();
    if (backend.test(title) || autovacuum.test(title) || shared.test(title))
      pids.push(Number(entry));
  }
  return pids;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Starts counting the CPU of the processes `list()` names; the returned function gives the µs
 * they spent since, or undefined when none was found. The list is taken again at the end, so a
 * process that started during the window (a new pool connection) counts from zero; one that
 * exited during it is lost.
 */
export function cpuWindow(list: () => number[]): () => number | undefined {
  const read = (): Map<number, number> => {
    const cpu = new Map<number, number>();
    for (const pid of list()) {
      const micros = processCpuMicros(pid);
      if (micros !== undefined) cpu.set(pid, micros);
    }
    return cpu;
  };
  const before = read();
  return () => {
    const after = read();
    if (after.size === 0) return undefined;
    let sum = 0;
    for (const [pid, micros] of after) sum += micros - (before.get(pid) ?? 0);
    return sum;
  };
}

/** The part of a node-postgres module counted: every statement goes through `Client#query`. */
export interface PgModule {
  Client: { prototype: { query: (...args: unknown[]) => unknown } };
}

/** Statements and transactions a node-postgres module sent in a window. */
export interface StatementCount {
  statements: number;
  transactions: number;
  /** By leading keyword, largest first: "SELECT 12, INSERT 7, ...". */
  byKeyword: string;
}

/**
 * Counts what `pg` sends, as the server sees transactions: an explicit BEGIN/START opens one, a
 * statement outside a block is one of its own. Installed once per process (it follows every
 * connection's BEGIN/COMMIT outside the window too, so a window that opens mid-transaction does
 * not count its statements as transactions); `begin()`/`end()` bound what is counted.
 */
export function countPgStatements(pg: PgModule): { begin(): void; end(): StatementCount } {
  const prototype = pg.Client.prototype;
  const original = prototype.query;
  const inTransaction = new WeakMap<object, boolean>();
  const counts = new Map<string, number>();
  let transactions = 0;
  let counting = false;
  prototype.query = function (this: object, ...args: unknown[]) {
    const key = keyword(args[0]);
    const opens = key === 'BEGIN' || key === 'START';
    const closes = key === 'COMMIT' || key === 'ROLLBACK' || key === 'END';
    if (counting) {
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (opens || (!closes && !inTransaction.get(this))) transactions++;
    }
    if (opens) inTransaction.set(this, true);
    else if (closes) inTransaction.set(this, false);
    return original.apply(this, args);
  };
  return {
    begin() {
      counts.clear();
      transactions = 0;
      counting = true;
    },
    end() {
      counting = false;
      let statements = 0;
      for (const n of counts.values()) statements += n;
      const byKeyword = [...counts]
        .sort((a, b) => b[1] - a[1])
        .map(([key, n]) => `${key} ${n}`)
        .join(', ');
      return { statements, transactions, byKeyword };
    },
  };
}

function keyword(query: unknown): string {
  const text =
    typeof query === 'string' ? query : ((query as { text?: unknown } | null)?.text ?? '');
  return /^\s*(\w+)/.exec(String(text))?.[1]?.toUpperCase() ?? '?';
}
