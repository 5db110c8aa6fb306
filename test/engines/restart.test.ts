import { execSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  inspectRecords,
  inspectStore,
  readJournal,
  runChildNode,
  type ChildFiles,
} from '../foundation/child-node';

// Restart per PEAL plugin, across real processes: a PSI node (test/engines/restart-child.js, plain
// JS on the built packages and the built procurement sample) starts an instance and takes it to
// the receive task "await-confirmation"; then the node is killed (SIGKILL) or closes and exits.
// A new node on the same SQLite file restores the instance from the store, the supplier's answer
// is delivered there, and the instance runs to its end (the ERP step included).

const root = path.resolve(__dirname, '..', '..');
const child = path.join(__dirname, 'restart-child.js');

/** Engine name under which each plugin stores its instances (psi_engine_instance.engine). */
const plugins = ['reference', 'bpmn-engine', 'xstate'] as const;
type Plugin = (typeof plugins)[number];

interface JournalEntry {
  pid: number;
  kind: string;
  orderNumber?: string;
  correlationKey?: string;
  waitStates?: string[];
  variables?: Record<string, unknown>;
  liveEngines?: number;
  outcome?: { status: string; instanceId?: string };
  status?: string;
  message?: string;
}

describe('engine restart across processes (SQLite file)', () => {
  let dir: string;
  beforeAll(() => {
    // The packages and samples the child runs on (incremental: seconds when already built).
    execSync('npx tsc -b samples', { cwd: root, stdio: 'pipe' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-restart-'));
  }, 120_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function run(
    plugin: Plugin,
    scenario: string,
    files: ChildFiles,
    extra: string[] = [],
  ): { signal: string | null; status: number | null } {
    return runChildNode(child, [plugin, scenario, files.db, files.journal, ...extra], {
      cwd: root,
      journal: files.journal,
      timeoutMs: 60_000,
    });
  }

  async function storedInstance(db: string, engine: Plugin): Promise<{ status: string }> {
    const state = await inspectStore(db, (s) => s.engineStates().load(engine, 'order-1'));
    expect(state).toBeDefined();
    return JSON.parse(state!) as { status: string };
  }

  describe.each(plugins)('%s', (plugin) => {
    it.each([
      ['killed (SIGKILL)', 'start-then-kill'],
      ['closed and exited', 'start-then-exit'],
    ])(
      'an instance waiting for the answer at "await-confirmation" survives its node being %s: a new process resumes it from the store, the answer is delivered, it ends',
      async (_how, scenario) => {
        const files = {
          db: path.join(dir, `${plugin}-${scenario}.sqlite`),
          journal: path.join(dir, `${plugin}-${scenario}.jsonl`),
        };

        const first = run(plugin, scenario, files);
        if (scenario === 'start-then-kill') expect(first.signal).toBe('SIGKILL');
        else expect(first.status).toBe(0);

        const before = readJournal<JournalEntry>(files.journal);
        const order = before.find((e) => e.kind === 'order');
        const waiting = before.find((e) => e.kind === 'waiting');
        expect(order).toMatchObject({
          orderNumber: expect.any(String),
          correlationKey: expect.any(String),
        });
        expect(waiting?.waitStates).toEqual(['await-confirmation']);
        // The waiting instance keeps its one Engine between signals; only the store survives a kill.
        if (plugin === 'bpmn-engine') expect(waiting?.liveEngines).toBe(1);
        expect(before.some((e) => e.kind === 'exit')).toBe(scenario === 'start-then-exit');

        // Between the processes, the store alone holds the waiting instance and its expectation.
        expect(await storedInstance(files.db, plugin)).toMatchObject({ status: 'running' });
        expect(
          (await inspectRecords(files.db, (s) => s.expectations())).map(
            ({ waitState, status }) => ({ waitState, status }),
          ),
        ).toEqual([{ waitState: 'await-confirmation', status: 'open' }]);

        expect(
          run(plugin, 'resume', files, [order!.correlationKey!, order!.orderNumber!]).status,
        ).toBe(0);

        const journal = readJournal<JournalEntry>(files.journal);
        expect(journal.filter((e) => e.kind === 'failure' || e.kind === 'error')).toEqual([]);
        const pids = [...new Set(journal.map((e) => e.pid))];
        expect(pids).toHaveLength(2);
        const resumed = journal.filter((e) => e.pid === pids[1]);
        const restored = resumed.find((e) => e.kind === 'restored');
        expect(restored?.waitStates).toEqual(['await-confirmation']);
        // Restoring recovers each waiting instance once and keeps no Engine for it afterwards.
        if (plugin === 'bpmn-engine') expect(restored?.liveEngines).toBe(0);
        // The supplier was called once, by the first process; the new one did not resend.
        expect(journal.filter((e) => e.kind === 'order')).toHaveLength(1);
        expect(resumed.find((e) => e.kind === 'receive')?.outcome).toEqual({
          status: 'delivered',
          instanceId: 'order-1',
          expectationId: expect.any(String),
        });
        const ended = resumed.find((e) => e.kind === 'ended');
        expect(ended?.status).toBe('completed');
        const variables = {
          orderNumber: order!.orderNumber,
          archiveRef: 'ARCH-1',
          confirmationId: 'CONF-1',
          deliveryDate: '2026-12-01T00:00:00.000Z',
          erpDocumentId: 'ERP-4711',
        };
        expect(ended?.variables).toMatchObject(variables);

        // Each plugin stores its own record format; all of them carry PEAL's status.
        expect((await storedInstance(files.db, plugin)).status).toBe('completed');
        const status = ({ status }: { status: string }): { status: string } => ({ status });
        const tables = await inspectRecords(files.db, async (s) => ({
          expectations: (await s.expectations()).map(status),
          outbox: (await s.outbox()).map(status),
          parked: await s.parked(),
          deadLetters: await s.deadLetters(),
        }));
        expect(tables).toEqual({
          expectations: [{ status: 'delivered' }],
          outbox: [{ status: 'sent' }, { status: 'sent' }],
          parked: [],
          deadLetters: [],
        });
      },
      120_000,
    );
  });
});
