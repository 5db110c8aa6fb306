import { PsiOperations, type PsiStore } from '@psi/core';
import { testStoreKinds } from '../foundation/test-stores';
import {
  buildOnce,
  psi,
  psiJson,
  schemaErrors,
  sharedStore,
  startNode,
  until,
  type NodeProcess,
  type SharedStore,
} from './cli-harness';

// Issue 19, "Must show": the real `psi` binary against a SQLite file and a PostgreSQL schema
// while a coordinator runs in another process. A replay (single, and bulk by filter) is
// delivered exactly once; --dry-run changes nothing; -o json parses and matches the published
// schema (packages/cli/schemas/psi-cli.schema.json); a bulk run survives the node running it.

jest.setTimeout(180_000);

interface Letter {
  id: string;
  status: string;
  instanceId?: string;
  reason: string;
}
interface Run {
  operation: {
    id: string;
    status: string;
    succeeded: number;
    failed: number;
    skipped: number;
    total: number;
  };
  items: Array<{
    target: string;
    status: string;
    outcome?: { message: string; receive?: { status: string } };
  }>;
}

const kinds = testStoreKinds()
  .map((kind) => (kind === 'better-sqlite3' ? 'sqlite' : kind))
  .filter((kind, i, all) => all.indexOf(kind) === i);

beforeAll(() => buildOnce(), 180_000);

async function sideEffects(store: PsiStore): Promise<Map<string, number>> {
  // Raw SQL on purpose: test_side_effect is the test handler's own table, not a PSI record.
  const rows = (await store.dataSource.query(
    'SELECT "orderNumber" AS o, COUNT(1) AS n FROM test_side_effect GROUP BY "orderNumber"',
  )) as Array<{ o: string; n: number | string }>;
  return new Map(rows.map((r) => [r.o, Number(r.n)]));
}

/**
 * Whether run `id` is done, read in this process: polling through the binary would start a
 * process per look; the run's document is then read once with `psi operations show`.
 */
async function finished(store: PsiStore, id: string): Promise<true | undefined> {
  return (await new PsiOperations(store).operation(id)).status === 'done' ? true : undefined;
}

describe.each(kinds)('psi CLI on a %s store with a node in another process', (kind) => {
  let store: SharedStore;
  let node: NodeProcess | undefined;
  let inspect: PsiStore | undefined;

  beforeEach(() => {
    store = sharedStore(kind);
  });
  afterEach(async () => {
    await node?.stop();
    node = undefined;
    await inspect?.close();
    inspect = undefined;
    await store.cleanup();
  });

  it('migrates with the options and environment of psi-migrate, and will not read a store that is not migrated', async () => {
    const before = await psi(['status', ...store.args]);
    expect(before.code).toBe(1);
    expect(before.stderr).toContain(
      kind === 'sqlite' ? 'no PSI store at SQLite file' : 'no PSI store at PostgreSQL schema',
    );
    const migrated = await psiJson(['migrate', ...store.args]);
    expect(schemaErrors('migrateDocument', migrated)).toEqual([]);
    expect(migrated).toMatchObject({
      kind,
      migrations: expect.arrayContaining(['Operations1739000000000']),
    });
    // The same store named by the environment alone.
    const again = await psi(['migrate'], store.env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('is up to date');
    const status = await psiJson(['status'], store.env);
    expect(schemaErrors('statusDocument', status)).toEqual([]);
    // Usage errors: exit code 2, before any store is opened.
    const usage = await Promise.all([
      psi(['bogus', ...store.args]),
      psi(['dead-letters', '--frobnicate', ...store.args]),
      psi(['dead-letters', '--cause', 'tired', ...store.args]),
    ]);
    expect(usage.map((run) => run.code)).toEqual([2, 2, 2]);
  });

  it('replays one dead letter, then the rest in bulk by filter: each delivered exactly once; a dry run changes nothing', async () => {
    node = await startNode(store, { ORDERS: '4', NODE_ID: 'node-1' });
    inspect = await store.open();
    const listed = await psiJson<{ list: string; items: Letter[] }>([
      'dead-letters',
      '--cause',
      'handler-failed',
      '--oldest',
      ...store.args,
    ]);
    expect(schemaErrors('listDocument', listed)).toEqual([]);
    expect(listed.items).toHaveLength(4);
    const [first] = listed.items;

    // Without a reason: refused (2). With one: replayed by the node in the other process.
    expect((await psi(['dead-letters', 'replay', first.id, ...store.args])).code).toBe(2);
    const single = await psiJson<Run>([
      'dead-letters',
      'replay',
      first.id,
      '--reason',
      'confirmation store back',
      '--actor',
      'alice',
      ...store.args,
    ]);
    expect(schemaErrors('operationDocument', single)).toEqual([]);
    expect(single.operation).toMatchObject({ status: 'done', succeeded: 1, failed: 0 });
    expect(single.items[0].outcome?.receive?.status).toBe('delivered');
    expect((await sideEffects(inspect)).get('PO-1')).toBe(1);

    // A dry run of the bulk replay: the count and a sample, and nothing changes.
    const snapshot = async () => {
      const [letters, runs] = await Promise.all([
        psiJson(['dead-letters', '--all-pages', ...store.args]),
        psiJson(['operations', ...store.args]),
      ]);
      return JSON.stringify([letters.items, runs.operations]);
    };
    const before = await snapshot();
    const preview = await psiJson<{ count: number; sample: Letter[] }>([
      'dead-letters',
      'replay',
      '--cause',
      'handler-failed',
      '--status',
      'open',
      '--dry-run',
      ...store.args,
    ]);
    expect(schemaErrors('previewDocument', preview)).toEqual([]);
    expect(preview.count).toBe(3);
    expect(preview.sample.map((l) => l.id)).toEqual(listed.items.slice(1).map((l) => l.id));
    expect(await snapshot()).toBe(before);
    // No terminal to confirm and no --yes: refused, nothing done.
    const unconfirmed = await psi([
      'dead-letters',
      'replay',
      '--cause',
      'handler-failed',
      '--reason',
      'bulk',
      ...store.args,
    ]);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('--yes');
    expect(await snapshot()).toBe(before);

    const bulk = await psi([
      'dead-letters',
      'replay',
      '--cause',
      'handler-failed',
      '--reason',
      'confirmation store back',
      '--actor',
      'bob',
      '--yes',
      '--rps',
      '20',
      '-o',
      'json',
      ...store.args,
    ]);
    expect(bulk.code).toBe(0);
    const run = JSON.parse(bulk.stdout) as Run;
    expect(schemaErrors('operationDocument', run)).toEqual([]);
    expect(run.operation).toMatchObject({
      status: 'done',
      total: 3,
      succeeded: 3,
      failed: 0,
      skipped: 0,
    });
    expect(run.items.map((i) => i.outcome?.receive?.status)).toEqual([
      'delivered',
      'delivered',
      'delivered',
    ]);
    expect(bulk.stderr).toMatch(/replay: 3\/3 \(0 failed, 0 skipped\)/);
    expect([...(await sideEffects(inspect)).entries()].sort()).toEqual([
      ['PO-1', 1],
      ['PO-2', 1],
      ['PO-3', 1],
      ['PO-4', 1],
    ]);

    // Replaying the same letters again replays nothing.
    const again = await psiJson<Run>([
      'dead-letters',
      'replay',
      '--cause',
      'handler-failed',
      '--reason',
      'again',
      '--yes',
      ...store.args,
    ]);
    expect(again.operation).toMatchObject({ status: 'done', total: 0, succeeded: 0 });
    expect((await sideEffects(inspect)).size).toBe(4);

    // What operators read afterwards, each document as published (reads only: side by side,
    // as each run is a process start).
    const lists = ['expectations', 'parked', 'invocations', 'guards'];
    const [timeline, groups, shown, operations, jsonl, text, missing, listDocuments] =
      await Promise.all([
        psiJson<{ audit: Array<{ kind: string; detail?: Record<string, unknown> }> }>([
          'instance',
          'order-1',
          ...store.args,
        ]),
        psiJson(['dead-letters', 'groups', '--status', 'replayed', ...store.args]),
        psiJson(['dead-letters', 'show', first.id, ...store.args]),
        psiJson(['operations', ...store.args]),
        psi(['invocations', '-o', 'jsonl', ...store.args]),
        psi(['dead-letters', '--status', 'replayed', ...store.args]),
        psi(['dead-letters', 'show', 'nope', '-o', 'json', ...store.args]),
        Promise.all(lists.map((list) => psiJson([list, ...store.args]))),
      ]);
    expect(schemaErrors('instanceDocument', timeline)).toEqual([]);
    expect(timeline.audit.find((a) => a.kind === 'replayed')?.detail).toMatchObject({
      actor: 'alice',
      channel: 'cli',
      reason: 'confirmation store back',
    });
    expect(schemaErrors('groupsDocument', groups)).toEqual([]);
    expect(schemaErrors('showDocument', shown)).toEqual([]);
    expect(schemaErrors('operationsDocument', operations)).toEqual([]);
    for (const document of listDocuments)
      expect(schemaErrors('listDocument', document)).toEqual([]);
    const lines = jsonl.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { step: string });
    expect(lines.map((l) => l.step)).toEqual(['send', 'send', 'send', 'send']);
    expect(text.stdout.split('\n')[0]).toMatch(
      /^ID\s+REASON\s+EVENT\s+SERVICE\s+INSTANCE\s+STATUS/,
    );
    expect(missing.code).toBe(1);
    const error = JSON.parse(missing.stderr) as unknown;
    expect(schemaErrors('errorDocument', error)).toEqual([]);
    expect(error).toMatchObject({ error: { code: 'PSI_DEAD_LETTER_NOT_FOUND' } });
    expect(node.problems.filter((p) => p.level !== 'warn')).toEqual([]);
  });

  it('discards with no node running (store-only actions run in the CLI); a replay waits for a node', async () => {
    node = await startNode(store, { ORDERS: '2', NODE_ID: 'node-1' });
    await node.stop();
    node = undefined;
    const { items } = await psiJson<{ items: Letter[] }>(['dead-letters', ...store.args]);
    const discarded = await psiJson<Run>([
      'dead-letters',
      'discard',
      items[0].id,
      '--reason',
      'duplicate order',
      ...store.args,
    ]);
    expect(discarded.operation).toMatchObject({ status: 'done', succeeded: 1 });
    // A replay needs a node: it stays queued and says so.
    const queued = await psi([
      'dead-letters',
      'replay',
      items[1].id,
      '--reason',
      'r',
      '--node-timeout',
      '1s',
      ...store.args,
    ]);
    expect(queued.code).toBe(1);
    expect(queued.stderr).toContain('no node took operation');
    const pending = await psiJson<{ operations: Array<{ id: string; status: string }> }>([
      'operations',
      '--status',
      'pending',
      ...store.args,
    ]);
    expect(pending.operations).toHaveLength(1);
    // ... and runs once a node starts.
    inspect = await store.open();
    const id = pending.operations[0].id;
    node = await startNode(store, { ORDERS: '0', NODE_ID: 'node-2' });
    await until(() => finished(inspect!, id), 'the queued replay ran');
    const done = await psiJson<Run>(['operations', 'show', id, ...store.args]);
    expect(done.operation.status).toBe('done');
    expect(done.items[0].outcome?.receive?.status).toBe('delivered');
  });

  it('a bulk replay survives the node running it: SIGKILLed mid-run, another node finishes it, no handler twice', async () => {
    node = await startNode(store, { ORDERS: '6', NODE_ID: 'node-a', LEASE_MS: '1000' });
    inspect = await store.open();
    const submitted = await psiJson<Run>([
      'dead-letters',
      'replay',
      '--match-all',
      '--reason',
      'bulk',
      '--yes',
      '--rps',
      '1',
      '--no-wait',
      ...store.args,
    ]);
    const id = submitted.operation.id;
    const ops = new PsiOperations(inspect);
    await until(
      async () => ((await ops.operation(id)).succeeded >= 2 ? true : undefined),
      'node A replayed two',
    );
    await node.kill();
    node = await startNode(store, { ORDERS: '0', NODE_ID: 'node-b', LEASE_MS: '1000' });
    await until(() => finished(inspect!, id), 'node B finished the run', 60_000);
    const done = await psiJson<Run>(['operations', 'show', id, ...store.args]);
    expect(done.operation).toMatchObject({ status: 'done', total: 6, failed: 0 });
    expect(done.operation.succeeded + done.operation.skipped).toBe(6);
    // Exactly once: no order's handler ran twice; an answer the dead node was delivering when it
    // died (if any) is an open `interrupted` dead letter, never run again by itself.
    const effects = await sideEffects(inspect);
    expect([...effects.values()].every((n) => n === 1)).toBe(true);
    const open = (
      await psiJson<{ items: Letter[] }>(['dead-letters', '--status', 'open', ...store.args])
    ).items;
    expect(open.every((l) => l.reason === 'interrupted')).toBe(true);
    expect(effects.size + open.length).toBe(6);
  });
});
