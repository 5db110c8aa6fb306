import * as path from 'node:path';
import { StoreConfigError } from '../errors';

/** A class TypeORM loads: an entity or a migration. */
export type PluginClass = new (...args: never[]) => unknown;

export type SqliteDriverName = 'sqlite3' | 'better-sqlite3';

/** Where and how PSI keeps its durable state. */
export interface StoreOptions {
  /** `sqlite` (embedded, one node) or `postgres` (several nodes). @default 'postgres' when `url` or env PSI_DATABASE_URL is set (and no `sqlitePath`), else 'sqlite' */
  type?: 'sqlite' | 'postgres';
  /** SQLite file. @default env PSI_SQLITE_PATH, else `.psi/psi.sqlite` under the working directory */
  sqlitePath?: string;
  /** PostgreSQL URL, e.g. `postgres://postgres@127.0.0.1:5432/psi`. @default env PSI_DATABASE_URL */
  url?: string;
  /** PostgreSQL schema for PSI's tables; created on open when missing (with `migrate`). @default env PSI_DATABASE_SCHEMA, else 'public' */
  schema?: string;
  /** PostgreSQL connection pool size (one connection listens for readiness notices). @default 10 */
  poolSize?: number;
  /**
   * PostgreSQL: how long a unit of work whose connection was lost before its commit is retried
   * on a fresh connection (exponential backoff from 50 ms); 0 turns retries off. @default 10_000
   */
  connectionRetryMs?: number;
  /** Run pending migrations when the store opens. @default true */
  migrate?: boolean;
  /** Extra TypeORM entities from plugins (e.g. the database registry). */
  entities?: PluginClass[];
  /** Extra migrations from plugins, run with PSI's own. */
  migrations?: PluginClass[];
  /** Most units of work committed in one transaction (group commit). @default 256 */
  maxBatchSize?: number;
  /**
   * PostgreSQL group commit: how many pooled connections at a time run the queued units of work,
   * each as one shared transaction; 0 gives every unit its own transaction.
   * @default half the pool, at most 4 (a pool of 1: 0)
   */
  postgresLanes?: number;
  /**
   * PostgreSQL group commit: one lane always runs; each further lane (up to `postgresLanes`)
   * opens only while at least this many units of work wait, or once a unit has waited 20 ms.
   * Fewer, fuller transactions cost the node and the server less than many small ones; a backlog
   * this deep or a wait this long means the running lanes do not keep up (a remote server's
   * round trips, a unit waiting on a lock), and more lanes help. 0 opens a lane for any waiting
   * unit. @default 32
   */
  postgresLaneBacklog?: number;
  /**
   * SQLite driver: `sqlite3` (asynchronous, a worker-thread round trip per statement) or
   * `better-sqlite3` (synchronous, ~3 µs per statement; an optional dependency the application
   * installs). Same file format, same tables. @default env PSI_SQLITE_DRIVER, else 'sqlite3'
   */
  sqliteDriver?: SqliteDriverName;
  /**
   * SQLite: what a commit survives. `full` (SQLite's `synchronous = FULL`): an acknowledged
   * commit survives a power loss or an OS crash; each commit (one per group-commit batch) waits
   * for the disk. `normal` (`synchronous = NORMAL` in WAL mode): survives a crash of the process,
   * but a power loss or OS crash can roll back the last commits — answers PSI already
   * acknowledged (a 202 sent, a Kafka offset committed) are then lost. Choose `normal` only where
   * that loss is acceptable. `volatile`: nothing is durable — the store lives in the process's
   * memory (an in-memory SQLite database, `sqlitePath` is ignored) and is gone when the process
   * ends; same semantics otherwise, for short-running processes whose state need not outlive the
   * process. PostgreSQL's durability is the server's (`synchronous_commit`).
   * @default env PSI_SQLITE_DURABILITY, else 'full'
   */
  durability?: SqliteDurability;
  /** Log SQL. @default false */
  logging?: boolean;
}

/** Options with every default applied. */
export interface CompiledStoreOptions {
  type: 'sqlite' | 'postgres';
  sqlitePath: string;
  url: string | undefined;
  schema: string;
  poolSize: number;
  connectionRetryMs: number;
  migrate: boolean;
  entities: PluginClass[];
  migrations: PluginClass[];
  maxBatchSize: number;
  postgresLanes: number;
  postgresLaneBacklog: number;
  sqliteDriver: SqliteDriverName;
  durability: SqliteDurability;
  logging: boolean;
}

/** See {@link StoreOptions.durability}. */
export type SqliteDurability = 'full' | 'normal' | 'volatile';

export const DEFAULT_SQLITE_PATH = path.join('.psi', 'psi.sqlite');
/** SQLite's name for a database that lives in the connection's memory (durability `volatile`). */
export const VOLATILE_SQLITE_PATH = ':memory:';

export function compileStoreOptions(options: StoreOptions = {}): CompiledStoreOptions {
  const url = options.url ?? process.env.PSI_DATABASE_URL;
  // An explicit sqlitePath means SQLite even when PSI_DATABASE_URL is set.
  const type =
    options.type ?? (options.url || (url && !options.sqlitePath) ? 'postgres' : 'sqlite');
  if (type !== 'sqlite' && type !== 'postgres') {
    throw new StoreConfigError(`type must be "sqlite" or "postgres", got "${String(type)}"`);
  }
  if (type === 'postgres' && !url) {
    throw new StoreConfigError(
      'type "postgres" needs a url (option "url" or env PSI_DATABASE_URL)',
    );
  }
  const schema = options.schema ?? process.env.PSI_DATABASE_SCHEMA ?? 'public';
  // The schema goes into the connections' search_path (raw SQL finds PSI's tables there), so it
  // must be a plain identifier.
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    throw new StoreConfigError(
      `schema must be a plain identifier (letters, digits, underscore), got "${schema}"`,
    );
  }
  const sqliteDriver = options.sqliteDriver ?? process.env.PSI_SQLITE_DRIVER ?? 'sqlite3';
  if (sqliteDriver !== 'sqlite3' && sqliteDriver !== 'better-sqlite3') {
    throw new StoreConfigError(
      `sqliteDriver must be "sqlite3" or "better-sqlite3", got "${String(sqliteDriver)}"`,
    );
  }
  const durability = options.durability ?? process.env.PSI_SQLITE_DURABILITY ?? 'full';
  if (durability !== 'full' && durability !== 'normal' && durability !== 'volatile') {
    throw new StoreConfigError(
      `durability must be "full", "normal" or "volatile", got "${String(durability)}"`,
    );
  }
  if (durability === 'volatile' && type === 'postgres') {
    throw new StoreConfigError(
      'durability "volatile" is an in-memory SQLite store; PostgreSQL\'s durability is the server\'s',
    );
  }
  const poolSize = options.poolSize ?? 10;
  // Lanes leave connections to the readiness listener and to units re-run alone.
  const postgresLanes = options.postgresLanes ?? Math.min(4, Math.floor(poolSize / 2));
  if (!Number.isInteger(postgresLanes) || postgresLanes < 0 || postgresLanes >= poolSize) {
    throw new StoreConfigError(
      `postgresLanes must be an integer from 0 to poolSize - 1 (${poolSize - 1}), got ${String(postgresLanes)}`,
    );
  }
  const postgresLaneBacklog = options.postgresLaneBacklog ?? 32;
  if (!Number.isInteger(postgresLaneBacklog) || postgresLaneBacklog < 0) {
    throw new StoreConfigError(
      `postgresLaneBacklog must be a non-negative integer, got ${String(postgresLaneBacklog)}`,
    );
  }
  return {
    type,
    sqlitePath:
      durability === 'volatile'
        ? VOLATILE_SQLITE_PATH
        : path.resolve(options.sqlitePath ?? process.env.PSI_SQLITE_PATH ?? DEFAULT_SQLITE_PATH),
    url,
    schema,
    poolSize,
    connectionRetryMs: options.connectionRetryMs ?? 10_000,
    migrate: options.migrate ?? true,
    entities: options.entities ?? [],
    migrations: options.migrations ?? [],
    maxBatchSize: options.maxBatchSize ?? 256,
    postgresLanes,
    postgresLaneBacklog,
    sqliteDriver,
    durability,
    logging: options.logging ?? false,
  };
}
