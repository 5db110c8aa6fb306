import { execSync } from 'node:child_process';
import * as path from 'node:path';
import { waitUntil } from '../correlation/fixtures';
import { NodeCluster, type NodeMessage, type NodeProcess } from './node-cluster';

// Several coordinator processes (test/multi-node/node-child.js, plain JS on the built packages)
// on one PostgreSQL schema. Answers arrive at any node, timers fire on every node, guards are
// taken from every node at once, and a node is killed mid-run: the conditional updates in the
// store decide every race; leases and claims let the survivors take over a dead node's work.
//
// Shared between the nodes: the whole store, including the reference engine's instance state
// (cacheSize 0, so every node reads the current state and may continue any instance). Not shared:
// in-memory queues, timers, and engine events (each node reacts to the changes it made).

const root = path.resolve(__dirname, '..', '..');
const RACES = 1_000;
const RACE_TIMEOUT_MS = 8_000;

interface SentRequest {
  instanceId: string;
  correlationKey: string;
  requestId: string;
}

interface InstanceRow {
  instanceId: string;
  state: string;
}

interface InstanceState {
  status: string;
  history: string[];
  at?: { step: string };
  variables: Record<string, unknown>;
}

const isReceived = (m: NodeMessage): m is Extract<NodeMessage, { type: 'received' }> =>
  m.type === 'received';

describe('several coordinator processes on one PostgreSQL schema', () => {
  let cluster: NodeCluster | undefined;

  beforeAll(() => {
    // Incremental: seconds when the packages are already built.
    execSync('npx tsc -b tsconfig.build.json', { cwd: root, stdio: 'pipe' });
  }, 180_000);
  afterEach(async () => {
    await cluster?.destroy();
    cluster = undefined;
  });

  async function instances(c: NodeCluster): Promise<Map<string, InstanceState>> {
    const rows = await c.query<InstanceRow>('SELECT "instanceId", state FROM psi_engine_instance');
    return new Map(rows.map((r) => [r.instanceId, JSON.parse(r.state) as InstanceState]));
  }

  function problemsOf(nodes: readonly NodeProcess[]): unknown[] {
    return nodes.flatMap((n) =>
      n.problems.filter((p) => p.level !== 'warn').map((p) => ({ node: n.nodeId, ...p })),
    );
  }

  it(`${RACES.toLocaleString('en')} answer-vs-timeout races over 3 processes: exactly one winner each, every losing answer recorded as late`, async () => {
    const sent = new Map<string, SentRequest>();
    cluster = await NodeCluster.create((_node, m) => {
      if (m.type === 'sent') sent.set(m.instanceId, m);
    });
    const c = cluster;
    const nodes = await Promise.all(
      ['node-1', 'node-2', 'node-3'].map((id) => c.spawn(id, { timeoutMs: RACE_TIMEOUT_MS })),
    );
    const ids = Array.from({ length: RACES }, (_, i) => `race-${i}`);
    nodes.forEach((node, n) => node.send({ cmd: 'start', ids: ids.filter((_, i) => i % 3 === n) }));

    // Every instance waits for its answer (or, on a very slow machine, already timed out).
    await waitUntil(() => sent.size === RACES, 'every request sent', 120_000);
    await waitUntil(
      async () => {
        const states = await instances(c);
        return (
          states.size === RACES &&
          [...states.values()].every((s) => s.at?.step === 'await-answer' || s.status !== 'running')
        );
      },
      'every instance waits for its answer',
      120_000,
    );
    const deadlines = new Map(
      (
        await c.query<{ instanceId: string; deadline: string }>(
          'SELECT "instanceId", deadline FROM psi_expectation',
        )
      ).map((r) => [r.instanceId, Number(r.deadline)]),
    );

    // Each answer goes to another node than the one that started the instance, at about the
    // deadline: 80 % within ±30 ms (a genuine race), 20 % 100–300 ms late (the timer wins those
    // even when the machine is loaded).
    const outcomes = new Map<string, { status: string; reason?: string }>();
    const offset = (i: number): number =>
      i % 5 === 4 ? 100 + ((i * 37) % 200) : -30 + ((i * 13) % 61);
    await Promise.all(
      ids.map(
        (id, i) =>
          new Promise<void>((resolve, reject) => {
            const node = nodes[(i + 1) % 3];
            const messageId = `answer-${id}`;
            setTimeout(
              () => {
                node
                  .next(
                    (m): m is Extract<NodeMessage, { type: 'received' }> =>
                      isReceived(m) && m.messageId === messageId,
                  )
                  .then((m) => {
                    outcomes.set(id, m.outcome);
                    resolve();
                  }, reject);
                node.send({
                  cmd: 'answer',
                  messageId,
                  correlationKey: sent.get(id)!.correlationKey,
                  instanceId: id,
                });
              },
              Math.max(0, deadlines.get(id)! + offset(i) - Date.now()),
            );
          }),
      ),
    );
    await waitUntil(
      async () => [...(await instances(c)).values()].every((s) => s.status !== 'running'),
      'every instance ended',
      120_000,
    );

    const finals = await instances(c);
    const expectations = new Map(
      (
        await c.query<{ instanceId: string; status: string }>(
          'SELECT "instanceId", status FROM psi_expectation',
        )
      ).map((r) => [r.instanceId, r.status]),
    );
    const letters = await c.query<{ instanceId: string; reason: string; payload: string }>(
      'SELECT "instanceId", reason, payload FROM psi_dead_letter',
    );
    const lettersByInstance = new Map(letters.map((l) => [l.instanceId, l]));
    const effects = new Set(
      (await c.query<{ instanceId: string }>('SELECT "instanceId" FROM test_side_effect')).map(
        (r) => r.instanceId,
      ),
    );
    let answered = 0;
    let timedOut = 0;
    for (const id of ids) {
      const final = finals.get(id)!;
      expect(final.status).toBe('completed');
      expect(final.history).toHaveLength(3);
      if (final.history.at(-1) === 'answered') {
        answered++;
        expect(outcomes.get(id)).toMatchObject({ status: 'delivered' });
        expect(expectations.get(id)).toBe('delivered');
        expect(effects.has(id)).toBe(true);
        expect(lettersByInstance.has(id)).toBe(false);
      } else {
        timedOut++;
        expect(final.history.at(-1)).toBe('timed-out');
        expect(outcomes.get(id)).toMatchObject({ status: 'dead-lettered', reason: 'late' });
        expect(expectations.get(id)).toBe('timed-out');
        expect(effects.has(id)).toBe(false);
        expect(lettersByInstance.get(id)).toMatchObject({ reason: 'late' });
        expect(JSON.parse(lettersByInstance.get(id)!.payload)).toMatchObject({ instanceId: id });
      }
    }
    expect(answered + timedOut).toBe(RACES);
    expect(letters).toHaveLength(timedOut);
    expect(effects.size).toBe(answered);
    // Both sides won races, and the timers of all three nodes took part.
    expect(answered).toBeGreaterThan(0);
    expect(timedOut).toBeGreaterThan(0);
    const [audit] = await c.query<{ delivered: string; timedOut: string }>(
      `SELECT SUM(CASE WHEN kind = 'delivered' THEN 1 ELSE 0 END) AS delivered,
              SUM(CASE WHEN kind = 'timed-out' AND detail LIKE '%"claimed":true%' THEN 1 ELSE 0 END) AS "timedOut"
         FROM psi_audit`,
    );
    expect({ delivered: Number(audit.delivered), timedOut: Number(audit.timedOut) }).toEqual({
      delivered: answered,
      timedOut,
    });
    expect(await c.query('SELECT seq FROM psi_parked_message')).toEqual([]);
    expect(problemsOf(nodes)).toEqual([]);
  }, 300_000);

  it('2,000 guard starts for 20 ids from 3 processes at once: exactly 20 succeed', async () => {
    cluster = await NodeCluster.create();
    const c = cluster;
    const nodes = await Promise.all(['node-1', 'node-2', 'node-3'].map((id) => c.spawn(id)));
    const starts = Array.from({ length: 2_000 }, (_, i) => ({
      id: `bulk-${i % 20}`,
      owner: `caller-${i}`,
    }));
    const results = await Promise.all(
      nodes.map((node, n) => {
        const answer = node.next(
          (m): m is Extract<NodeMessage, { type: 'guarded' }> => m.type === 'guarded',
          120_000,
        );
        node.send({ cmd: 'guard', starts: starts.filter((_, i) => i % 3 === n), ttlMs: 600_000 });
        return answer;
      }),
    );

    const all = results.flatMap((r, n) =>
      r.results.map((result, k) => ({ ...result, start: starts.filter((_, i) => i % 3 === n)[k] })),
    );
    expect(all).toHaveLength(2_000);
    const winners = all.filter((r) => r.started);
    expect(winners).toHaveLength(20);
    expect(new Set(winners.map((w) => w.start.id)).size).toBe(20);
    // Every refused caller is told who holds its id.
    const holder = new Map(winners.map((w) => [w.start.id, w.start.owner]));
    for (const loser of all.filter((r) => !r.started)) {
      expect(loser.heldBy).toBe(holder.get(loser.start.id));
    }
    const rows = await c.query<{ id: string; owner: string; ownerToken: string }>(
      'SELECT id, owner, "ownerToken" FROM psi_process_guard ORDER BY id',
    );
    expect(rows).toHaveLength(20);
    for (const row of rows) {
      const winner = winners.find((w) => w.start.id === row.id)!;
      expect(row).toEqual({ id: row.id, owner: winner.start.owner, ownerToken: winner.ownerToken });
    }
    expect(problemsOf(nodes)).toEqual([]);
  }, 180_000);
});
