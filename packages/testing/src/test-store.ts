import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PsiStore, type StoreOptions } from '@psi/core';

/**
 * Where a test environment keeps PSI's state and the engine's instances. By default a SQLite file
 * in a new temp dir, deleted at `dispose()`; PostgreSQL on request, in a fresh schema dropped at
 * `dispose()`.
 */
export type TestStoreOptions =
  | {
      kind?: 'sqlite';
      /** @default 'sqlite3' */
      driver?: 'sqlite3' | 'better-sqlite3';
      /** A file to use (and keep) instead of a throwaway one. */
      path?: string;
    }
  | {
      kind: 'postgres';
      /** @default env PSI_TEST_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/postgres */
      url?: string;
      /** A schema to use (and keep) instead of a fresh one. */
      schema?: string;
    };

/** One store location: opened (again, for a restart) and removed at the end. */
export class TestStoreLocation {
  private constructor(
    private readonly options: StoreOptions,
    /** What `remove()` deletes: a temp dir, or a schema to drop. */
    private readonly throwaway: { dir?: string; schema?: string },
    /** Where it is, for messages: a file path or `postgres schema <name>`. */
    readonly description: string,
  ) {}

  static of(options: TestStoreOptions = {}): TestStoreLocation {
    if (options.kind === 'postgres') {
      const schema = options.schema ?? `psi_test_${process.pid}_${randomBytes(4).toString('hex')}`;
      return new TestStoreLocation(
        {
          url:
            options.url ??
            process.env.PSI_TEST_POSTGRES_URL ??
            'postgres://postgres@127.0.0.1:5432/postgres',
          schema,
          poolSize: 4,
        },
        options.schema ? {} : { schema },
        `postgres schema ${schema}`,
      );
    }
    const dir = options.path ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'psi-test-'));
    const file = options.path ?? path.join(dir as string, 'psi.sqlite');
    return new TestStoreLocation(
      {
        sqlitePath: file,
        sqliteDriver: options.driver ?? 'sqlite3',
        // A throwaway file need not survive a power cut: no fsync per commit.
        ...(dir ? { durability: 'normal' as const } : {}),
      },
      { dir },
      file,
    );
  }

  /** Opens (and migrates) the store. */
  open(): Promise<PsiStore> {
    return PsiStore.open(this.options);
  }

  /** Deletes the throwaway file or drops the throwaway schema; a kept one stays. */
  async remove(): Promise<void> {
    if (this.throwaway.dir) fs.rmSync(this.throwaway.dir, { recursive: true, force: true });
    if (this.throwaway.schema) {
      const admin = await PsiStore.open({ url: this.options.url, migrate: false, poolSize: 1 });
      try {
        await admin.dataSource.query(`DROP SCHEMA IF EXISTS "${this.throwaway.schema}" CASCADE`);
      } finally {
        await admin.close();
      }
    }
  }
}
