import { toJsonRows, type BenchResult } from '../../bench/report';
import type { CellResult } from '../../bench/entries/peers/cell';
import { createDatabases, databaseUrl, psiPg } from '../../bench/entries/peers/databases';
import { countPgStatements, cpuWindow, postgresPids } from '../../bench/entries/peers/probes';
import { peerRows } from '../../bench/entries/peers/rows';

/**
 * The parts of the peers bench entry its figures rest on: statements and transactions counted
 * at the driver, the server processes found by database, ratios taken within a round, and what
 * `--json` writes. Against the machine's PostgreSQL (PSI_DATABASE_URL, else the local default).
 */
const url = process.env.PSI_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function cell(rate: number, overrides: Partial<CellResult> = {}): CellResult {
  return {
    operations: rate * 2,
    seconds: 2,
    cpuMicros: rate * 2 * 1_000,
    serverCpuMicros: rate * 2 * 500,
    failures: 0,
    ...overrides,
  };
}

describe('peers bench', () => {
  const database = `psi_peers_test_${process.pid}`;
  let databases: { drop(): Promise<void> };

  beforeAll(async () => {
    databases = await createDatabases(url, [database]);
  });
  afterAll(async () => {
    await databases.drop();
  });

  it('counts statements, and transactions as the server sees them, at the driver', async () => {
    const pg = psiPg();
    const counter = countPgStatements(pg);
    const client = new pg.Client({ connectionString: databaseUrl(url, database) });
    await client.connect();
    try {
      await client.query('CREATE TABLE t (id int)'); // before the window: not counted
      counter.begin();
      await client.query('SELECT 1'); // a transaction of its own
      await client.query('BEGIN');
      await client.query('INSERT INTO t VALUES (1)');
      await client.query('UPDATE t SET id = 2');
      await client.query('COMMIT');
      await client.query('INSERT INTO t VALUES (3)'); // autocommit again
      const counted = counter.end();
      await client.query('SELECT 2'); // after the window
      expect(counted).toEqual({
        statements: 6,
        transactions: 3,
        byKeyword: 'INSERT 2, SELECT 1, BEGIN 1, UPDATE 1, COMMIT 1',
      });
    } finally {
      await client.end();
    }
  });

  it("finds the backends of a system's own database and reads their CPU", async () => {
    const pg = psiPg();
    const client = new pg.Client({ connectionString: databaseUrl(url, database) });
    await client.connect();
    try {
      const [backend] = (
        (await client.query('SELECT pg_backend_pid() AS pid')) as { rows: Array<{ pid: number }> }
      ).rows;
      expect(postgresPids(database)).toContain(backend.pid);
      expect(postgresPids(`${database}_other`)).not.toContain(backend.pid);
      const window = cpuWindow(() => [backend.pid]);
      await client.query('SELECT count(*) FROM generate_series(1, 3000000)');
      expect(window()).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
  });

  it('takes the ratios within each round, and --json writes them with what they are against', () => {
    // PSI is 2× DBOS in both rounds, though round 2 ran everything 4× slower.
    const rounds = new Map<string, Array<CellResult | undefined>>([
      [
        'psi',
        [
          cell(400, { statements: 800 * 30, transactions: 800 }),
          cell(100, { statements: 200 * 30, transactions: 200 }),
        ],
      ],
      ['dbos', [cell(200), cell(50, { serverCpuMicros: 50 * 2 * 1_500 })]],
    ]);
    const rows = peerRows(
      [
        { name: 'psi', unit: 'correlation' },
        { name: 'dbos', unit: 'workflow', psiRow: 'psi' },
        { name: 'restate', unit: 'invocation', psiRow: 'psi' },
      ],
      rounds,
      new Map([['restate', 'restate-server did not start: no binary']]),
    );
    const [psi, dbos, restate] = rows;
    // CPU per op, client + server: PSI 1,500 µs both rounds; DBOS 1,500 then 2,500.
    expect(psi.ratios).toEqual([
      expect.objectContaining({ against: 'dbos', value: 2, range: [2, 2], cpuRatio: 0.8 }),
    ]);
    expect(psi).toMatchObject({ operations: 1_000, statementsPerOp: 30, commitsPerOp: 1 });
    expect(dbos.ratios).toBeUndefined();
    expect(dbos.statementsPerOp).toBeUndefined(); // not counted
    expect(restate).toMatchObject({ operations: 0, note: expect.stringContaining('no binary') });

    const json = toJsonRows([
      ...rows,
      { name: 'raw', unit: 'pair', operations: 1_000, seconds: 1 } satisfies BenchResult,
      { name: 'psi/x', unit: 'correlation', operations: 100, seconds: 1, baseline: 'raw' },
    ]);
    expect(json[0]).toMatchObject({
      name: 'psi',
      opsPerSecond: 250,
      clientCpuMicrosPerOp: 1_000,
      serverCpuMicrosPerOp: 500,
      ratios: [{ against: 'dbos', value: 2 }],
      skipped: false,
    });
    expect(json[2]).toMatchObject({ name: 'restate', skipped: true, ratios: [] });
    expect(json[4].ratios).toEqual([
      { against: 'raw', value: 0.1, how: 'ops/s ÷ ops/s, same run' },
    ]);
  });
});
