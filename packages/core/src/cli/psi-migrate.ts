import { PsiStore } from '../store/psi-store';
import type { StoreOptions } from '../store/store-options';

const USAGE = `usage: psi-migrate [--url <postgres url>] [--schema <schema>] [--sqlite <file>]
  Runs PSI's pending migrations and exits. Without options: PSI_DATABASE_URL (and
  PSI_DATABASE_SCHEMA) when set, else the SQLite file PSI_SQLITE_PATH or .psi/psi.sqlite.`;

/** What {@link migrateStore} did: the store it migrated and the migrations it now has. */
export interface MigrationReport {
  kind: 'sqlite' | 'postgres';
  /** The SQLite file, or the PostgreSQL schema. */
  location: string;
  migrations: string[];
}

/** Creates the schema when missing and runs pending migrations (the `psi migrate` command too). */
export async function migrateStore(options: StoreOptions): Promise<MigrationReport> {
  const store = await PsiStore.open({ ...options, migrate: true, poolSize: 1 });
  try {
    const applied = (await store.dataSource.query(
      'SELECT name FROM psi_migrations ORDER BY id',
    )) as Array<{ name: string }>;
    return {
      kind: store.kind,
      location: store.kind === 'postgres' ? store.options.schema : store.options.sqlitePath,
      migrations: applied.map((m) => m.name),
    };
  } finally {
    await store.close();
  }
}

/**
 * `psi-migrate`: brings a store's schema up to date, once, before (or while) nodes start.
 * Nodes also migrate when they open the store; on PostgreSQL an advisory lock makes concurrent
 * migrations wait for each other. Returns the exit code.
 */
export async function runMigrateCli(
  argv: readonly string[],
  out: (line: string) => void = (line) => console.log(line),
): Promise<number> {
  const options: StoreOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      out(USAGE);
      return 0;
    }
    const value = argv[i + 1];
    if (!['--url', '--schema', '--sqlite'].includes(arg) || value === undefined) {
      out(
        `${value === undefined ? `missing value for "${arg}"` : `unknown argument "${arg}"`}\n${USAGE}`,
      );
      return 2;
    }
    i++;
    if (arg === '--url') options.url = value;
    else if (arg === '--schema') options.schema = value;
    else {
      options.type = 'sqlite';
      options.sqlitePath = value;
    }
  }
  try {
    const report = await migrateStore(options);
    const where =
      report.kind === 'postgres'
        ? `PostgreSQL schema "${report.location}"`
        : `SQLite file ${report.location}`;
    out(`${where} is up to date: ${report.migrations.join(', ')}`);
    return 0;
  } catch (error) {
    out(`psi-migrate failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

if (require.main === module) {
  runMigrateCli(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
