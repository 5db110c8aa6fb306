import type { EntityManager } from 'typeorm';
import { runPreparedOnPostgres } from './row-statements';

/**
 * Advisory-lock namespace of answer keys (the two-int form: its key space is apart from the
 * one-bigint form the migration lock uses).
 */
const ANSWER_LOCK_NAMESPACE = 0x70_73_69_61; // "psia"

/**
 * The keys an answer for `event` can be matched by: its correlation key and its business keys.
 * The receive that parks an answer nobody expects yet and the invoke that records the expectation
 * (adopting parked answers) both lock these keys first; see {@link lockAnswerKeys}.
 */
export function answerKeys(
  event: string,
  correlationKey: string | null | undefined,
  businessKeys: ReadonlyArray<string | null | undefined>,
): string[] {
  const keys = [
    // JSON keeps the parts apart whatever characters they hold.
    correlationKey ? JSON.stringify([event, 'c', correlationKey]) : undefined,
    ...businessKeys.map((key) => (key ? JSON.stringify([event, 'b', key]) : undefined)),
  ];
  return keys.filter((key): key is string => key !== undefined);
}

/**
 * Serialises, per answer key, "look for the expectation, else park" against "record the
 * expectation, then adopt what is parked". On PostgreSQL the two run in separate transactions
 * under READ COMMITTED: without the lock each can miss the other's uncommitted row, and the
 * answer stays parked without owner until it expires (reproduced by test/correlation/parking).
 * With it, whoever comes second sees the first's committed row.
 *
 * On SQLite this does nothing: a write transaction there (BEGIN IMMEDIATE) excludes every other,
 * and the units inside one run one after another.
 *
 * Locks are taken in sorted order, so two transactions locking several keys cannot deadlock on
 * them; they are released at COMMIT or ROLLBACK.
 */
export async function lockAnswerKeys(tx: EntityManager, keys: readonly string[]): Promise<void> {
  if (tx.connection.options.type !== 'postgres') return;
  for (const key of [...new Set(keys)].sort()) {
    // Advisory locks are database-wide: the schema keeps PSI deployments on one database apart.
    await runPreparedOnPostgres(
      tx,
      'SELECT pg_advisory_xact_lock($1, hashtext(current_schema() || $2))',
      [ANSWER_LOCK_NAMESPACE, key],
    );
  }
}
