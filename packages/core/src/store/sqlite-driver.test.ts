import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as sqlite3 from 'sqlite3';
import { CachingDatabase } from './sqlite-driver';

interface Result {
  error: Error | null;
  rows?: unknown[];
  lastID?: number;
  changes?: number;
}

function call(db: CachingDatabase, method: 'run' | 'all', sql: string, params: unknown[] = []) {
  return new Promise<Result>((resolve) => {
    db[method](
      sql,
      params,
      function (this: sqlite3.RunResult, error: Error | null, rows?: unknown[]) {
        resolve({ error, rows, lastID: this.lastID, changes: this.changes });
      },
    );
  });
}

describe(CachingDatabase, () => {
  let dir: string;
  let db: CachingDatabase;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-driver-'));
    db = await new Promise<CachingDatabase>((resolve, reject) => {
      const opened: CachingDatabase = new CachingDatabase(path.join(dir, 'db.sqlite'), (error) =>
        error ? reject(error) : resolve(opened),
      );
    });
    await call(db, 'run', 'CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE)');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const close = () => new Promise<Error | null>((resolve) => db.close(resolve));

  it('reuses one prepared statement per SQL text and reports lastID and changes', async () => {
    const insert = 'INSERT INTO item (name) VALUES (?)';
    expect(await call(db, 'run', insert, ['a'])).toMatchObject({ error: null, lastID: 1 });
    expect(await call(db, 'run', insert, ['b'])).toMatchObject({ error: null, lastID: 2 });
    const renamed = await call(db, 'run', 'UPDATE item SET name = name || ? WHERE id > ?', [
      '!',
      0,
    ]);
    expect(renamed).toMatchObject({ error: null, changes: 2 });
    const refused = await call(db, 'run', insert, ['a!']);
    expect(refused.error?.message).toMatch(/UNIQUE/);
    const rows = await call(db, 'all', 'SELECT name FROM item WHERE id > ? ORDER BY id', [0]);
    expect(rows.rows).toEqual([{ name: 'a!' }, { name: 'b!' }]);
    expect(await close()).toBeNull();
  });

  it('hands a prepare error to every caller instead of dropping the calls', async () => {
    const broken = 'SELECT * FROM missing WHERE id = ?';
    const results = await Promise.all([call(db, 'all', broken, [1]), call(db, 'all', broken, [2])]);
    for (const result of results) expect(result.error?.message).toMatch(/no such table: missing/);
    // Evicted: once the table exists, the same text prepares afresh and works.
    await call(db, 'run', 'CREATE TABLE missing (id INTEGER)');
    expect(await call(db, 'all', broken, [1])).toMatchObject({ error: null, rows: [] });
    expect(await close()).toBeNull();
  });

  it('runs statements queued concurrently in order and closes with statements cached', async () => {
    const insert = 'INSERT INTO item (name) VALUES (?)';
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => call(db, 'run', insert, [`n${i}`])),
    );
    expect(results.map((r) => r.lastID)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await close()).toBeNull();
  });
});
