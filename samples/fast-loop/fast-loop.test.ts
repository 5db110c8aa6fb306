import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PsiStore } from '@psi/core';
import { EngineFaultCode } from '@psi/engines';
import { runFastLoop } from './run-fast-loop';

interface Row {
  instanceId: string;
  status: string;
  n: number;
}

async function readStore(sqlitePath: string): Promise<{
  invocations: Row[];
  outbox: Row[];
  engine: Map<string, unknown>;
  deadLetters: number;
}> {
  const store = await PsiStore.open({ sqlitePath });
  try {
    const query = <T>(sql: string): Promise<T[]> => store.dataSource.query(sql);
    const invocations = await query<Row>(
      'SELECT "instanceId", status, COUNT(*) AS n FROM psi_invocation GROUP BY "instanceId", status',
    );
    const outbox = await query<Row>(
      `SELECT i."instanceId", o.status, COUNT(*) AS n FROM psi_outbox o
         JOIN psi_invocation i ON i.id = o."invocationId" GROUP BY i."instanceId", o.status`,
    );
    const engineRows = await query<{ instanceId: string; state: string }>(
      `SELECT "instanceId", state FROM psi_engine_instance WHERE engine = 'reference'`,
    );
    const [{ n: deadLetters }] = await query<{ n: number }>(
      'SELECT COUNT(*) AS n FROM psi_dead_letter',
    );
    return {
      invocations,
      outbox,
      engine: new Map(engineRows.map((r) => [r.instanceId, JSON.parse(r.state) as unknown])),
      deadLetters,
    };
  } finally {
    await store.close();
  }
}

describe('sample: fast loop', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-fast-loop-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs every iteration of every loop through PSI and times each one', async () => {
    const sqlitePath = path.join(dir, 'all-done.sqlite');
    // A deadline no loaded machine reaches: this run is about completing, not about time.
    const run = await runFastLoop({
      sqlitePath,
      loops: [
        { name: 'a', iterations: 40, tooLongMs: 120_000 },
        { name: 'b', iterations: 25, tooLongMs: 120_000 },
        { name: 'c', iterations: 1, tooLongMs: 120_000 },
      ],
    });

    for (const loop of run.loops) {
      const n = loop.spec.iterations;
      expect(loop.outcome).toBe('done');
      expect(loop.final).toMatchObject({
        status: 'completed',
        variables: { loop: loop.spec.name, item: n, handled: n, iterations: n },
      });
      expect(loop.final.variables.lastResult).toMatch(/^[0-9a-f]{12}$/);
      expect(loop.final.history.filter((step) => step === 'handle')).toHaveLength(n);
      expect(loop.final.history.filter((step) => step === 'produce')).toHaveLength(n);
      expect(loop.final.history.at(-1)).toBe('done');
      expect(loop.final.fault).toBeUndefined();
      expect(loop.iterationsMs).toHaveLength(n);
      expect(loop.invocations.map((i) => i.status)).toEqual(Array(n).fill('completed'));
    }
    expect(run.timing.count).toBe(66);
    expect(run.timing.p50).toBeLessThanOrEqual(run.timing.p99);
    expect(run.timing.p99).toBeLessThanOrEqual(run.timing.max);
    expect(run.slowCalls).toBe(0);
    expect(run.warnings).toEqual([]);

    // The store: one completed invocation and one sent request per item; the engine kept its
    // instances in memory (the fast short-running choice), so none is in the store.
    const store = await readStore(sqlitePath);
    for (const loop of run.loops) {
      const ours = (rows: Row[]): Array<[string, number]> =>
        rows.filter((r) => r.instanceId === loop.instanceId).map((r) => [r.status, Number(r.n)]);
      expect(ours(store.invocations)).toEqual([['completed', loop.spec.iterations]]);
      expect(ours(store.outbox)).toEqual([['sent', loop.spec.iterations]]);
    }
    expect(store.engine.size).toBe(0);
    expect(Number(store.deadLetters)).toBe(0);
  });

  it('runs the same loops on a volatile store: same outcome, nothing written to disk', async () => {
    const sqlitePath = path.join(dir, 'volatile', 'never-written.sqlite');
    const run = await runFastLoop({
      sqlitePath,
      durability: 'volatile',
      loops: [
        { name: 'a', iterations: 30, tooLongMs: 120_000 },
        { name: 'b', iterations: 10, tooLongMs: 120_000 },
      ],
    });
    expect(run.loops.map((loop) => [loop.outcome, loop.final.variables.handled])).toEqual([
      ['done', 30],
      ['done', 10],
    ]);
    for (const loop of run.loops) {
      expect(loop.invocations.map((i) => i.status)).toEqual(
        Array(loop.spec.iterations).fill('completed'),
      );
    }
    expect(run.timing.count).toBe(40);
    expect(run.warnings).toEqual([]);
    expect(fs.existsSync(path.dirname(sqlitePath))).toBe(false);
  });

  it('trips the "too long" deadline with a slow handler: caught → fault path, uncaught → aborted', async () => {
    const sqlitePath = path.join(dir, 'too-long.sqlite');
    // Items 1 and 2 are quick; the handler holds item 3 until the run releases it after both
    // instances ended, so the deadline passes while the handler works, however slow the machine.
    const tooLongMs = 3_000;
    const run = await runFastLoop({
      sqlitePath,
      engineState: 'store',
      loops: [
        { name: 'caught', iterations: 5, tooLongMs, slowItem: 3 },
        { name: 'strict', iterations: 5, tooLongMs, slowItem: 3, catchTooLong: false },
      ],
    });
    const [caught, strict] = run.loops;

    expect(caught.outcome).toBe('too-long');
    expect(caught.final).toMatchObject({
      status: 'completed',
      variables: { item: 3, handled: 2, tooLong: true, abandonedItem: 3 },
    });
    expect(caught.final.history.slice(-3)).toEqual(['handle', 'too-long', 'gave-up']);
    expect(caught.final.fault).toBeUndefined();

    expect(strict.outcome).toBe('aborted');
    expect(strict.final).toMatchObject({
      status: 'aborted',
      variables: { item: 3, handled: 2 },
      fault: {
        code: EngineFaultCode.SlaExceeded,
        message: expect.stringContaining(`SLA of ${tooLongMs} ms`),
      },
    });
    expect(strict.final.history.at(-1)).toBe('handle');
    expect(strict.final.variables.tooLong).toBeUndefined();

    for (const loop of run.loops) {
      // Two rounds completed; the third was cut short and is not counted.
      expect(loop.iterationsMs).toHaveLength(2);
      // The slow call's answer came after the instance had moved on: PSI recorded the
      // invocation as completed and told the engine nothing.
      expect(loop.invocations.map((i) => i.status)).toEqual([
        'completed',
        'completed',
        'completed',
      ]);
      expect(run.warnings.filter((w) => w.includes(loop.instanceId))).toHaveLength(1);
    }
    expect(run.slowCalls).toBe(2);

    // The store: the engine's final state of each instance, and the invocations.
    const store = await readStore(sqlitePath);
    expect(store.engine.get(caught.instanceId)).toMatchObject({
      status: 'completed',
      history: caught.final.history,
      variables: { tooLong: true, abandonedItem: 3 },
    });
    expect(store.engine.get(caught.instanceId)).not.toHaveProperty('slaDueAt');
    expect(store.engine.get(strict.instanceId)).toMatchObject({
      status: 'aborted',
      fault: { code: EngineFaultCode.SlaExceeded },
    });
    for (const loop of run.loops) {
      expect(
        store.invocations
          .filter((r) => r.instanceId === loop.instanceId)
          .map((r) => [r.status, Number(r.n)]),
      ).toEqual([['completed', 3]]);
    }
    expect(Number(store.deadLetters)).toBe(0);
  });
});
