import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DEFAULT_SQLITE_PATH,
  PsiStore,
  type PsiOperations,
  type RecordFilter,
  type StoreOptions,
} from '@psi/core';
import { flag, parseDuration, parseTime, type ParsedArgs } from './args';
import type { CliIo, OutputFormat } from './output';

/** The store flags every command takes (the same as psi-migrate's, and the same environment). */
export const STORE_FLAGS = ['url', 'schema', 'sqlite'] as const;

/**
 * Store options from `--url`, `--schema`, `--sqlite`; without them PSI_DATABASE_URL (and
 * PSI_DATABASE_SCHEMA) when set, else PSI_SQLITE_PATH or `.psi/psi.sqlite`, as `PsiStore.open`.
 */
export function storeOptions(args: ParsedArgs): StoreOptions {
  const options: StoreOptions = {};
  const url = flag(args, 'url');
  const schema = flag(args, 'schema');
  const sqlite = flag(args, 'sqlite');
  if (url) options.url = url;
  if (schema) options.schema = schema;
  if (sqlite) {
    options.type = 'sqlite';
    options.sqlitePath = sqlite;
  }
  return options;
}

/** What a command runs with. */
export interface CommandContext {
  args: ParsedArgs;
  io: CliIo;
  format: OutputFormat;
  ops: PsiOperations;
}

/**
 * Opens the store without migrating it (a look must not change the schema); a store with pending
 * migrations is refused with the command that migrates it.
 */
export async function openStore(args: ParsedArgs): Promise<PsiStore> {
  const options = storeOptions(args);
  // As PsiStore.open chooses: an explicit file, else PostgreSQL when a URL is set, else SQLite.
  const sqlitePath =
    options.sqlitePath ??
    (options.url || process.env.PSI_DATABASE_URL
      ? undefined
      : (process.env.PSI_SQLITE_PATH ?? DEFAULT_SQLITE_PATH));
  // Opening a missing file would create an empty store: say where PSI looked instead.
  if (sqlitePath !== undefined && !fs.existsSync(sqlitePath))
    throw new StoreMissingError(`SQLite file ${path.resolve(sqlitePath)}`);
  const store = await PsiStore.open({ ...options, migrate: false, poolSize: 2 });
  try {
    if (store.kind === 'postgres') {
      const found = (await store.dataSource.query(
        'SELECT 1 FROM information_schema.schemata WHERE schema_name = $1',
        [store.options.schema],
      )) as unknown[];
      if (found.length === 0)
        throw new StoreMissingError(`PostgreSQL schema "${store.options.schema}"`);
    }
    if (await store.dataSource.showMigrations()) {
      throw new StoreNotMigratedError();
    }
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** No SQLite file or PostgreSQL schema where the options point: exit code 1. */
export class StoreMissingError extends Error {
  constructor(where: string) {
    super(
      `no PSI store at ${where} (give --sqlite <file>, --url/--schema, or PSI_DATABASE_URL; psi migrate creates one)`,
    );
    this.name = 'StoreMissingError';
  }
}

/** The store's schema is older than this CLI: exit code 1 with the command that fixes it. */
export class StoreNotMigratedError extends Error {
  constructor() {
    super(
      'the store has pending migrations: run `psi migrate` (same --url/--schema/--sqlite) first',
    );
    this.name = 'StoreNotMigratedError';
  }
}

/** Record filter flags → RecordFilter. */
export const FILTER_FLAGS = [
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
] as const;

export function recordFilter(args: ParsedArgs): RecordFilter {
  const filter: RecordFilter = {
    instanceId: flag(args, 'instance'),
    event: flag(args, 'event'),
    service: flag(args, 'service'),
    correlationKey: flag(args, 'correlation-key'),
    businessKey: flag(args, 'business-key'),
    messageId: flag(args, 'message-id'),
    reason: flag(args, 'cause'),
    status: flag(args, 'status'),
    guardId: flag(args, 'guard'),
    owner: flag(args, 'owner'),
  };
  const from = flag(args, 'from');
  const to = flag(args, 'to');
  const older = flag(args, 'older-than');
  const newer = flag(args, 'newer-than');
  if (from) filter.from = parseTime(from, 'from');
  if (to) filter.to = parseTime(to, 'to');
  if (older) filter.minAgeMs = parseDuration(older, 'older-than');
  if (newer) filter.maxAgeMs = parseDuration(newer, 'newer-than');
  return Object.fromEntries(
    Object.entries(filter).filter(([, v]) => v !== undefined),
  ) as RecordFilter;
}

/** Who acts: --actor, else PSI_ACTOR, else the OS user. */
export function actorOf(args: ParsedArgs): string {
  return flag(args, 'actor') ?? process.env.PSI_ACTOR ?? os.userInfo().username;
}
