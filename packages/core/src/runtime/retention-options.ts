import { CoordinatorOptionsError } from '../errors';

/**
 * How long the store keeps what only operators and dedupe read. A sweep deletes what is older,
 * when the coordinator starts and every `intervalMs`, a `batchSize` of rows per transaction.
 * `null` keeps rows of that kind for good.
 */
export interface RetentionOptions {
  /** Resolved (replayed or discarded) dead letters: deleted this long after they were resolved. @default 2_592_000_000 (30 days) */
  resolvedDeadLettersMs?: number | null;
  /**
   * Open dead letters: deleted this long after they were written. Deleting an open letter loses
   * the answer it holds, so the default keeps them until an operator replays or discards them.
   * @default null
   */
  openDeadLettersMs?: number | null;
  /** Audit entries: deleted this long after they were written. @default 7_776_000_000 (90 days) */
  auditMs?: number | null;
  /**
   * Dedupe ids: deleted this long after their message came; never sooner than the coordinator's
   * `dedupeWindowMs` (an id deleted sooner would let a duplicate through). @default dedupeWindowMs
   */
  dedupeIdsMs?: number | null;
  /** How often the sweep runs. @default 3_600_000 (1 h) */
  intervalMs?: number;
  /** Rows deleted per transaction, so a sweep never holds the store for long. @default 1000 */
  batchSize?: number;
}

export interface CompiledRetention {
  resolvedDeadLettersMs: number | null;
  openDeadLettersMs: number | null;
  auditMs: number | null;
  dedupeIdsMs: number | null;
  intervalMs: number;
  batchSize: number;
}

export function compileRetention(
  options: RetentionOptions = {},
  dedupeWindowMs: number,
): CompiledRetention {
  const ages = {
    resolvedDeadLettersMs: orDefault(options.resolvedDeadLettersMs, 2_592_000_000),
    openDeadLettersMs: orDefault(options.openDeadLettersMs, null),
    auditMs: orDefault(options.auditMs, 7_776_000_000),
    dedupeIdsMs: orDefault(options.dedupeIdsMs, dedupeWindowMs),
  };
  for (const [name, value] of Object.entries(ages)) {
    if (value !== null && !(Number.isFinite(value) && value > 0)) {
      throw new CoordinatorOptionsError(`retention.${name} must be a positive number or null.`);
    }
  }
  const compiled: CompiledRetention = {
    ...ages,
    dedupeIdsMs: ages.dedupeIdsMs === null ? null : Math.max(ages.dedupeIdsMs, dedupeWindowMs),
    intervalMs: options.intervalMs ?? 3_600_000,
    batchSize: options.batchSize ?? 1_000,
  };
  if (
    !(compiled.intervalMs > 0) ||
    !Number.isInteger(compiled.batchSize) ||
    compiled.batchSize < 1
  ) {
    throw new CoordinatorOptionsError(
      'retention.intervalMs and retention.batchSize must be positive.',
    );
  }
  return compiled;
}

function orDefault(value: number | null | undefined, fallback: number | null): number | null {
  return value === undefined ? fallback : value;
}
