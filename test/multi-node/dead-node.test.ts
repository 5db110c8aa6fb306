import { execSync } from 'node:child_process';
import * as path from 'node:path';
import { waitUntil } from '../correlation/fixtures';
import { NodeCluster, type NodeMessage } from './node-cluster';

// Issue 21.4 with real processes on PostgreSQL: a node is SIGKILLed while 300 invocations it
// runs wait for a service that never answers (their leases live, renewed, 60 s long). Its
// replacement comes up under a new node id, as PostgreSQL's default id is per process: it sees
// at once that the dead node's liveness lock is gone (its session ended with the process) and
// takes every lease over in one go. Before, it waited for the leases to lapse (leaseMs), then
// took 100 per sweep, one sweep per third of leaseMs.

const root = path.resolve(__dirname, '..', '..');
const COUNT = 300;
const LEASE_MS = 60_000;

describe('a dead node on PostgreSQL (SIGKILL)', () => {
  let cluster: NodeCluster | undefined;
  beforeAll(() => {
    execSync('npx tsc -b tsconfig.build.json', { cwd: root, stdio: 'pipe' });
  }, 180_000);
  afterEach(async () => {
    await cluster?.destroy();
    cluster = undefined;
  });

  it(`its ${COUNT} running invocations are taken over by a node under a new id in seconds, not after leaseMs`, async () => {
    const sent = new Map<string, Set<string>>();
    cluster = await NodeCluster.create((node, m: NodeMessage) => {
      if (m.type !== 'sent') return;
      const ids = sent.get(node.nodeId) ?? new Set<string>();
      ids.add(m.instanceId);
      sent.set(node.nodeId, ids);
    });
    const c = cluster;
    const doomed = await c.spawn('node-1', { leaseMs: LEASE_MS, serviceHangs: true });
    const ids = Array.from({ length: COUNT }, (_, i) => `hang-${i}`);
    doomed.send({ cmd: 'start', ids });
    await waitUntil(
      () => sent.get('node-1')?.size === COUNT,
      'node-1 called the service for all',
      60_000,
    );
    const [held] = await c.query<{ n: string }>(
      `SELECT count(*) AS n FROM psi_invocation WHERE status = 'running' AND "leaseOwner" = 'node-1' AND "leaseExpiresAt" > $1`,
      [Date.now() + LEASE_MS / 2],
    );
    expect(Number(held.n)).toBe(COUNT);

    doomed.kill();
    await doomed.exit;
    const killedAt = Date.now();
    await c.spawn('node-2', { leaseMs: LEASE_MS });
    await waitUntil(
      async () => {
        const [row] = await c.query<{ n: string }>(
          `SELECT count(*) AS n FROM psi_invocation WHERE status = 'waiting' AND "leaseOwner" = 'node-2'`,
        );
        return Number(row.n) === COUNT;
      },
      'node-2 ran every invocation node-1 left',
      LEASE_MS / 2,
    );
    // Bounded by the wait above (half the lease): waiting for the leases to lapse would fail.
    if (process.env.PSI_TEST_VERBOSE) console.info({ takenOverAfterMs: Date.now() - killedAt });
    // Every request went out again under its id (receivers dedupe), once.
    expect(sent.get('node-2')?.size).toBe(COUNT);
  }, 180_000);
});
