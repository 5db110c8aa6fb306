import { UsageError } from './usage-error';

export type OutputFormat = 'text' | 'json' | 'jsonl';

/** Where the CLI writes, and what it knows about the terminal. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Whether stdout/stderr go to a terminal (progress redraws in place, prompts are possible). */
  isTTY: boolean;
  /** Terminal width for text tables. */
  columns: number;
  /** Asks a yes/no question on the terminal; undefined when there is no terminal to ask. */
  confirm?(question: string): Promise<boolean>;
}

export function outputFormat(value: string | undefined): OutputFormat {
  const format = value ?? 'text';
  if (format !== 'text' && format !== 'json' && format !== 'jsonl')
    throw new UsageError(`-o must be text, json or jsonl, got "${format}"`);
  return format;
}

/** One JSON document (json: indented; jsonl: one line). */
export function writeDocument(io: CliIo, format: OutputFormat, document: unknown): void {
  io.stdout(
    format === 'jsonl' ? `${JSON.stringify(document)}\n` : `${JSON.stringify(document, null, 2)}\n`,
  );
}

/** A column of a text table: header, cell text, and whether it may be cut to fit. */
export interface Column<T> {
  header: string;
  cell(row: T): string;
  /** Ids stay whole (they are copied into the next command). @default true */
  shrink?: boolean;
}

const GAP = 2;
const MIN_WIDTH = 6;

/** A table whose widest cuttable columns are cut (with …) until it fits `width`. */
export function renderTable<T>(
  rows: readonly T[],
  columns: ReadonlyArray<Column<T>>,
  width: number,
): string {
  const cells = rows.map((row) => columns.map((c) => oneLine(c.cell(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i].length)));
  const total = () => widths.reduce((a, b) => a + b, 0) + GAP * (widths.length - 1);
  while (total() > width) {
    let widest = -1;
    for (let i = 0; i < columns.length; i++) {
      if (columns[i].shrink === false || widths[i] <= MIN_WIDTH) continue;
      if (widest < 0 || widths[i] > widths[widest]) widest = i;
    }
    if (widest < 0) break; // only ids left: let the terminal wrap
    widths[widest] = Math.max(MIN_WIDTH, widths[widest] - (total() - width));
  }
  const line = (values: string[]) =>
    values
      .map((v, i) => fit(v, widths[i]).padEnd(i === values.length - 1 ? 0 : widths[i]))
      .join(' '.repeat(GAP))
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function fit(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/** `3m ago`, `in 2h` (relative to now). */
export function relative(at: number | undefined, now: number): string {
  if (at === undefined) return '';
  const ms = at - now;
  const text = duration(Math.abs(ms));
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.round(h / 24)}d`;
}

/** Compact JSON for a table cell. */
export function brief(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && 'message' in value && typeof value.message === 'string')
    return value.message;
  return JSON.stringify(value);
}
