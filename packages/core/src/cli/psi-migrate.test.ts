import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { psiMigrations } from '../store/entities';
import { PsiStore } from '../store/psi-store';
import { runMigrateCli } from './psi-migrate';

const POSTGRES_URL =
  process.env.PSI_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const names = psiMigrations.map((m) => m.name.replace(/^class\s+/, ''));

describe(runMigrateCli, () => {
  const schemas: string[] = [];
  afterAll(async () => {
    const admin = await PsiStore.open({ url: POSTGRES_URL, migrate: false, poolSize: 1 });
    for (const schema of schemas)
      await admin.dataSource.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.close();
  });

  it('migrates a SQLite file and says which migrations it has', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-migrate-'));
    const lines: string[] = [];
    try {
      const file = path.join(dir, 'psi.sqlite');
      expect(await runMigrateCli(['--sqlite', file], (l) => lines.push(l))).toBe(0);
      expect(lines).toEqual([`SQLite file ${file} is up to date: ${names.join(', ')}`]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('migrates a PostgreSQL schema named by options or by PSI_DATABASE_URL / PSI_DATABASE_SCHEMA, twice without harm', async () => {
    const schema = `psi_migrate_${process.pid}`;
    schemas.push(schema);
    const lines: string[] = [];
    const out = (line: string): number => lines.push(line);
    expect(await runMigrateCli(['--url', POSTGRES_URL, '--schema', schema], out)).toBe(0);
    const saved = { url: process.env.PSI_DATABASE_URL, schema: process.env.PSI_DATABASE_SCHEMA };
    process.env.PSI_DATABASE_URL = POSTGRES_URL;
    process.env.PSI_DATABASE_SCHEMA = schema;
    try {
      expect(await runMigrateCli([], out)).toBe(0);
    } finally {
      if (saved.url === undefined) delete process.env.PSI_DATABASE_URL;
      else process.env.PSI_DATABASE_URL = saved.url;
      if (saved.schema === undefined) delete process.env.PSI_DATABASE_SCHEMA;
      else process.env.PSI_DATABASE_SCHEMA = saved.schema;
    }
    const expected = `PostgreSQL schema "${schema}" is up to date: ${names.join(', ')}`;
    expect(lines).toEqual([expected, expected]);
  });

  it('refuses unknown arguments and missing values with its usage (exit code 2)', async () => {
    const lines: string[] = [];
    expect(await runMigrateCli(['--db', 'x'], (l) => lines.push(l))).toBe(2);
    expect(await runMigrateCli(['--url'], (l) => lines.push(l))).toBe(2);
    expect(lines.join('\n')).toContain('usage: psi-migrate');
  });
});
