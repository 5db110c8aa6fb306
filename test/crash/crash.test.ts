import { execSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  inspectRecords,
  readJournal,
  runChildNode,
  type ChildFiles,
} from '../foundation/child-node';

// Crash tests: a PSI node in a child process (test/crash/crash-child.js, plain JS on the built
// packages) is killed with SIGKILL (1) after committing an outbox entry but before sending,
// (2) after parking an answer, (3) with a deadline armed, (4) inside a response handler; a new
// process on the same SQLite file resends once / delivers once / fires the timeout / finishes
// the delivery.

const root = path.resolve(__dirname, '..', '..');
const child = path.join(__dirname, 'crash-child.js');

interface JournalEntry {
  pid: number;
  deliveryId?: string;
  redelivered?: boolean;
  kind: string;
  requestId?: string;
  outcome?: { status: string };
  history?: string[];
  variables?: Record<string, unknown>;
  message?: string;
}

describe('crash recovery across processes (SQLite file, SIGKILL)', () => {
  let dir: string;
  beforeAll(() => {
    // Incremental: seconds when the packages are already built.
    execSync('npx tsc -b tsconfig.build.json', { cwd: root, stdio: 'pipe' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-crash-'));
  }, 120_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function files(name: string): ChildFiles {
    return { db: path.join(dir, `${name}.sqlite`), journal: path.join(dir, `${name}.jsonl`) };
  }

  function run(
    scenario: string,
    f: ChildFiles,
    env: Record<string, string> = {},
  ): { signal: string | null; status: number | null } {
    return runChildNode(child, [scenario, f.db, f.journal], {
      cwd: root,
      journal: f.journal,
      env,
      timeoutMs: 30_000,
    });
  }

  it('killed after the outbox commit, before the send: the next process sends once, with the same request id', async () => {
    const f = files('outbox');
    expect(run('crash-before-send', f).signal).toBe('SIGKILL');
    const [outboxAfterCrash] = await inspectRecords(f.db, (s) => s.outbox());
    expect(outboxAfterCrash.status).toBe('pending');
    const expectations = await inspectRecords(f.db, (s) => s.expectations());
    expect(expectations.map(({ status }) => ({ status }))).toEqual([{ status: 'open' }]);

    expect(run('resume', f).status).toBe(0);
    // A third start finds nothing left to send.
    expect(run('resume', f).status).toBe(0);

    const journal = readJournal<JournalEntry>(f.journal);
    expect(journal.filter((e) => e.kind === 'failure' || e.kind === 'error')).toEqual([]);
    const [first, second, third] = [...new Set(journal.map((e) => e.pid))];
    expect(third).toBeUndefined(); // the third process did not even try to send
    expect(journal.filter((e) => e.pid === first).map((e) => e.kind)).toEqual(['attempt']);
    const sent = journal.filter((e) => e.kind === 'sent');
    expect(sent).toHaveLength(1);
    expect(sent[0].pid).toBe(second);
    expect(sent[0].requestId).toBe(outboxAfterCrash.id);

    const { outbox, trail } = await inspectRecords(f.db, async (s) => ({
      outbox: await s.outbox(),
      trail: await s.audit({ instanceId: 'order-1' }),
    }));
    expect(outbox.map(({ id, status }) => ({ id, status }))).toEqual([
      { id: outboxAfterCrash.id, status: 'sent' },
    ]);
    expect(trail.map((r) => r.kind)).toEqual(['invoked', 'sent', 'completed']);
  });

  it('killed after parking an answer: the next process delivers it once', async () => {
    const f = files('parked');
    expect(run('start', f).status).toBe(0);
    expect(run('park-then-crash', f).signal).toBe('SIGKILL');
    const parked = await inspectRecords(f.db, (s) => s.parked());
    expect(parked.map(({ messageId, instanceId }) => ({ messageId, instanceId }))).toEqual([
      { messageId: 'confirmation-1', instanceId: 'order-1' },
    ]);

    expect(run('release', f).status).toBe(0);

    const journal = readJournal<JournalEntry>(f.journal);
    expect(journal.filter((e) => e.kind === 'failure' || e.kind === 'error')).toEqual([]);
    expect(journal.find((e) => e.kind === 'receive')?.outcome).toMatchObject({ status: 'parked' });
    expect(journal.filter((e) => e.kind === 'sent')).toHaveLength(1);
    const ended = journal.find((e) => e.kind === 'ended')!;
    expect(ended.history).toEqual(['order', 'print', 'await-confirmation', 'done']);
    expect(ended.variables).toMatchObject({ confirmationId: 'C-1' });
    const { rows, trail, letters } = await inspectRecords(f.db, async (s) => ({
      rows: await s.parked(),
      trail: await s.audit({ instanceId: 'order-1' }),
      letters: await s.deadLetters(),
    }));
    expect(rows).toEqual([]);
    expect(letters).toEqual([]);
    expect(trail.map((r) => r.kind).filter((k) => k === 'delivered')).toHaveLength(1);
  });

  it('killed with a deadline armed: the deadline passes while nothing runs, and fires when a new process starts', async () => {
    const f = files('timer');
    expect(run('start', f).status).toBe(0);
    expect(run('arm-timer-then-crash', f).signal).toBe('SIGKILL');
    const [expectation] = await inspectRecords(f.db, (s) => s.expectations());
    expect(expectation.status).toBe('open');

    // The next node starts two minutes "later" (its clock is ahead): the 60 s deadline has passed.
    expect(run('await-end', f, { PSI_CLOCK_OFFSET_MS: '120000' }).status).toBe(0);

    const journal = readJournal<JournalEntry>(f.journal);
    expect(journal.filter((e) => e.kind === 'failure' || e.kind === 'error')).toEqual([]);
    const ended = journal.find((e) => e.kind === 'ended')!;
    expect(ended.history).toEqual(['order', 'print', 'await-confirmation', 'timed-out']);
    expect(journal.filter((e) => e.kind === 'sent')).toHaveLength(1);
    const { rows, trail } = await inspectRecords(f.db, async (s) => ({
      rows: await s.expectations(),
      trail: await s.audit({ instanceId: 'order-1' }),
    }));
    expect(rows.map(({ status, timeoutPending }) => ({ status, timeoutPending }))).toEqual([
      { status: 'timed-out', timeoutPending: false },
    ]);
    expect(trail.map((r) => r.kind)).toEqual(['invoked', 'sent', 'completed', 'timed-out']);
  });

  it('killed inside a response handler: the next process (same node id) finishes the delivery at start, with the same delivery id; nothing is dead-lettered (16.9, 21.2, 21.5)', async () => {
    const f = files('handler');
    expect(run('start', f).status).toBe(0);
    expect(run('kill-in-handler', f).signal).toBe('SIGKILL');
    const [claimed] = await inspectRecords(f.db, (s) => s.expectations());
    // The claim would live for another leaseMs (30 s); the restarted node does not wait for it.
    expect(claimed).toMatchObject({ status: 'claimed', claimedBy: 'local' });

    expect(run('await-end', f).status).toBe(0);

    const journal = readJournal<JournalEntry>(f.journal);
    expect(journal.filter((e) => e.kind === 'failure' || e.kind === 'error')).toEqual([]);
    // At least once: the handler ran in both processes, with one delivery id.
    expect(journal.filter((e) => e.kind === 'handler')).toEqual([
      expect.objectContaining({ deliveryId: claimed.deliveryId, redelivered: false }),
      expect.objectContaining({ deliveryId: claimed.deliveryId, redelivered: true }),
    ]);
    const ended = journal.find((e) => e.kind === 'ended')!;
    expect(ended.history).toEqual(['order', 'print', 'await-confirmation', 'done']);
    expect(ended.variables).toMatchObject({ confirmationId: 'C-1' });
    const { letters, expectations, delivered } = await inspectRecords(f.db, async (s) => ({
      letters: await s.deadLetters(),
      expectations: await s.expectations(),
      delivered: await s.audit({ kind: 'delivered' }),
    }));
    expect(letters).toEqual([]);
    expect(expectations.map(({ status }) => ({ status }))).toEqual([{ status: 'delivered' }]);
    expect(delivered.map((r) => r.detail)).toEqual([
      expect.objectContaining({ deliveryId: claimed.deliveryId, redelivered: true }),
    ]);
  });
});
