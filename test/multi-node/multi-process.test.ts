import { execSync } from 'node:child_process';
import * as path from 'node:path';
import { waitUntil } from '../correlation/fixtures';
import { NodeCluster, type NodeCommand, type NodeMessage, type NodeProcess } from './node-cluster';

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

type AnswerCommand = Extract<NodeCommand, { cmd: 'answer' }>;

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
              SUM(CASE WHEN kind = 'timed-out' THEN 1 ELSE 0 END) AS "timedOut"
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

  it('SIGKILL one of 3 processes while 5,000 invocations run with answers flowing: every expectation ends delivered or timed out; no answer lost, no instance delivered twice, no interrupted letter', async () => {
    const TOTAL = 5_000;
    const IN_FLIGHT = 150;
    const BATCH = 25;
    const KILL_AFTER = 2_000;
    const ids = Array.from({ length: TOTAL }, (_, i) => `job-${i}`);
    const live: NodeProcess[] = [];
    const pendingStarts = new Map<string, NodeProcess>(); // id → node asked to start it
    const pendingAnswers = new Map<string, { node: NodeProcess; command: AnswerCommand }>();
    const answeredInstances = new Set<string>();
    const outcomes: Array<{ status: string; reason?: string }> = [];
    let nextId = 0;
    let turn = 0;
    let killed: NodeProcess | undefined;

    const pick = (): NodeProcess => live[turn++ % live.length];
    const startOn = (node: NodeProcess, batch: string[]): void => {
      for (const id of batch) pendingStarts.set(id, node);
      node.send({ cmd: 'start', ids: batch });
    };
    const answer = (command: AnswerCommand): void => {
      const node = pick();
      pendingAnswers.set(command.messageId, { node, command });
      node.send(command);
    };
    // Keeps about IN_FLIGHT instances between start and answer, on the live nodes.
    const pump = (): void => {
      while (nextId < TOTAL && live.length > 0 && nextId - answeredInstances.size < IN_FLIGHT) {
        const batch = ids.slice(nextId, nextId + BATCH);
        nextId += batch.length;
        startOn(pick(), batch);
      }
    };

    cluster = await NodeCluster.create(
      (node, m) => {
        switch (m.type) {
          case 'started':
            pendingStarts.delete(m.id);
            return;
          case 'sent':
            // The service answers every request it gets (a request re-sent after a take-over
            // carries the same id, so its answer is a duplicate PSI recognises).
            answer({
              cmd: 'answer',
              messageId: `answer-${m.requestId}`,
              correlationKey: m.correlationKey,
              instanceId: m.instanceId,
            });
            return;
          case 'received':
            if (pendingAnswers.get(m.messageId)?.node !== node) return;
            answeredInstances.add(pendingAnswers.get(m.messageId)!.command.instanceId);
            pendingAnswers.delete(m.messageId);
            outcomes.push(m.outcome);
            if (!killed && answeredInstances.size >= KILL_AFTER) kill();
            pump();
            return;
          default:
            return;
        }
      },
      { traceWrites: true },
    );
    const c = cluster;
    const options = { leaseMs: 3_000, timeoutMs: 10_000 };
    live.push(
      ...(await Promise.all(['node-1', 'node-2', 'node-3'].map((id) => c.spawn(id, options)))),
    );
    const survivors = live.filter((n) => n.nodeId !== 'node-2');

    // The broker's view of a dead consumer: what it was handed and did not acknowledge goes to
    // the others (Kafka redelivers uncommitted offsets to the group).
    function kill(): void {
      killed = live.find((n) => n.nodeId === 'node-2')!;
      killed.kill();
      live.splice(live.indexOf(killed), 1);
      for (const [messageId, pending] of [...pendingAnswers]) {
        if (pending.node !== killed) continue;
        pendingAnswers.delete(messageId);
        answer(pending.command);
      }
      const unstarted = [...pendingStarts].filter(([, n]) => n === killed).map(([id]) => id);
      for (let i = 0; i < unstarted.length; i += BATCH)
        startOn(pick(), unstarted.slice(i, i + BATCH));
    }

    pump();
    await waitUntil(() => killed !== undefined, 'node-2 was killed mid-run', 240_000);
    await killed!.exit;
    // The survivors take over what node-2 held as soon as its liveness lock is gone.
    await waitUntil(
      async () => {
        const [held] = await c.query<{ invocations: string; claims: string }>(
          `SELECT (SELECT count(*) FROM psi_invocation WHERE status = 'running' AND "leaseOwner" = 'node-2') AS invocations,
                  (SELECT count(*) FROM psi_expectation WHERE status = 'claimed' AND "claimedBy" = 'node-2') AS claims`,
        );
        return Number(held.invocations) + Number(held.claims) === 0;
      },
      'the survivors took over node-2s invocations and deliveries',
      60_000,
    );
    // Its supervisor starts a replacement: restore() brings back what node-2 changed in the
    // engine but never reacted to (a step entered, a wait state reached).
    live.push(await c.spawn('node-4', { ...options, restore: true }));
    pump();
    await waitUntil(
      () => nextId === TOTAL && pendingStarts.size === 0,
      'every instance started',
      240_000,
    );
    await waitUntil(
      async () => {
        const [row] = await c.query<{ running: string; total: string }>(
          `SELECT count(*) FILTER (WHERE state::json->>'status' = 'running') AS running, count(*) AS total FROM psi_engine_instance`,
        );
        return (
          Number(row.total) === TOTAL && Number(row.running) === 0 && pendingAnswers.size === 0
        );
      },
      'every instance ended and every answer was acknowledged',
      240_000,
    );
    await Promise.all(live.map((n) => n.stop()));

    const finals = await instances(c);
    const expectations = await c.query<{ instanceId: string; status: string }>(
      'SELECT "instanceId", status FROM psi_expectation',
    );
    const letters = await c.query<{ instanceId: string; reason: string; status: string }>(
      'SELECT "instanceId", reason, status FROM psi_dead_letter',
    );
    const effects = new Set(
      (await c.query<{ instanceId: string }>('SELECT "instanceId" FROM test_side_effect')).map(
        (r) => r.instanceId,
      ),
    );
    const lettersOf = new Map<string, string[]>();
    for (const l of letters)
      lettersOf.set(l.instanceId, [...(lettersOf.get(l.instanceId) ?? []), l.reason]);

    // One expectation per instance, each delivered or timed out; nothing open, claimed or parked.
    expect(expectations).toHaveLength(TOTAL);
    expect(new Set(expectations.map((e) => e.instanceId)).size).toBe(TOTAL);
    const byInstance = new Map(expectations.map((e) => [e.instanceId, e.status]));
    let delivered = 0;
    for (const id of ids) {
      const final = finals.get(id)!;
      expect(final.status).toBe('completed');
      const status = byInstance.get(id);
      if (final.history.at(-1) === 'answered') {
        delivered++;
        expect(status).toBe('delivered');
        expect(effects.has(id)).toBe(true);
      } else {
        expect(final.history.at(-1)).toBe('timed-out');
        expect(status).toBe('timed-out');
        // Its answer was acknowledged after the timeout won, so it is kept as late.
        expect(lettersOf.get(id)).toContain('late');
        expect(effects.has(id)).toBe(false);
      }
    }
    expect(answeredInstances.size).toBe(TOTAL);
    // A claim is a commitment: the dead node's deliveries were finished, not dead-lettered.
    expect(new Set(letters.map((l) => l.reason))).toEqual(
      new Set(letters.map((l) => l.reason).filter((r) => r === 'late')),
    );
    // No instance got two deliveries: a second one (another delivery id) would have failed on
    // the side-effect row and been dead-lettered handler-failed; re-runs of one delivery (same
    // id) after the kill are the documented at-least-once.
    expect(letters.filter((l) => l.reason === 'handler-failed')).toEqual([]);
    for (const id of effects) expect(byInstance.get(id)).toBe('delivered');
    expect(delivered).toBeGreaterThan(0);
    if (process.env.PSI_TEST_VERBOSE) {
      const reasons = letters.reduce<Record<string, number>>(
        (n, l) => ({ ...n, [`${l.reason}/${l.status}`]: (n[`${l.reason}/${l.status}`] ?? 0) + 1 }),
        {},
      );
      console.info({ delivered, timedOut: TOTAL - delivered, deadLetters: reasons });
    }
    expect(
      await c.query(
        `SELECT 'invocation ' || status || ' ' || "leaseOwner" || COALESCE(' ' || "lastError", '') AS left FROM psi_invocation WHERE status <> 'completed'
         UNION ALL SELECT 'expectation ' || status FROM psi_expectation WHERE status IN ('open', 'claimed')
         UNION ALL SELECT 'parked ' || "messageId" FROM psi_parked_message`,
      ),
    ).toEqual([]);
    expect(problemsOf(survivors)).toEqual([]);
    // Each instance left its service step once. Two nodes moving it out of the step from the
    // same state (a restore that signalled a finished step again while the node that finished
    // it was still signalling) let the later write win, once over the delivery that had ended
    // the instance: the hang this test used to hit now and then. This shows the race itself,
    // in most runs where it could happen, not only the rare run where it hangs.
    expect(
      await c.query(
        `SELECT "instanceId", string_agg(node || ' ' || detail, ' | ' ORDER BY seq) AS writes
           FROM test_write_log WHERE tbl = 'engine' AND detail LIKE '["call","await-answer"] %'
          GROUP BY "instanceId" HAVING count(DISTINCT node) > 1 LIMIT 5`,
      ),
    ).toEqual([]);
  }, 600_000);
});
