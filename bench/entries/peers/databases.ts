import { createRequire } from 'node:module';
import type { PgModule } from './probes';

/** node-postgres as PsiStore's connections use it, with the client used to create databases. */
export interface PsiPg extends PgModule {
  Client: PgModule['Client'] & {
    new (config: { connectionString: string }): {
      connect(): Promise<void>;
      query(text: string): Promise<unknown>;
      end(): Promise<void>;
    };
  };
}

/**
 * The node-postgres module PsiStore's connections use: the one TypeORM loads (`require('pg')`
 * from TypeORM's folder), else the one @psi/core resolves. Counting its `Client#query` counts
 * every statement the store sends.
 */
export function psiPg(): PsiPg {
  const fromCore = createRequire(require.resolve('@psi/core'));
  try {
    return createRequire(fromCore.resolve('typeorm'))('pg') as PsiPg;
  } catch {
    return fromCore('pg') as PsiPg;
  }
}

/** `url` with its database replaced by `database`. */
export function databaseUrl(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * Creates one database per name on the server of `url` (dropping a leftover of the same name),
 * so each system's backends can be told apart by their database; `drop()` removes them.
 */
export async function createDatabases(
  url: string,
  names: readonly string[],
): Promise<{ drop(): Promise<void> }> {
  const run = async (sql: string): Promise<void> => {
    const client = new (psiPg().Client)({ connectionString: url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  const drop = async (name: string): Promise<void> => {
    try {
      await run(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`); // PostgreSQL 13+
    } catch {
      await run(`DROP DATABASE IF EXISTS "${name}"`);
    }
  };
  for (const name of names) {
    await drop(name);
    await run(`CREATE DATABASE "${name}"`);
  }
  return {
    drop: async () => {
      for (const name of names) await drop(name);
    },
  };
}
