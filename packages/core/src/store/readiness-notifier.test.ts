import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PsiStore } from './psi-store';
import {
  channelFor,
  InProcessReadinessNotifier,
  PostgresReadinessNotifier,
} from './readiness-notifier';

const POSTGRES_URL =
  process.env.PSI_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe(InProcessReadinessNotifier, () => {
  it('tells every other subscriber on the same key, not the publisher, not other keys', async () => {
    const a = new InProcessReadinessNotifier('sqlite:/x.sqlite');
    const b = new InProcessReadinessNotifier('sqlite:/x.sqlite');
    const other = new InProcessReadinessNotifier('sqlite:/y.sqlite');
    const seen: string[] = [];
    a.subscribe('node-a', (id) => seen.push(`a:${id}`));
    const stopB = b.subscribe('node-b', (id) => seen.push(`b:${id}`));
    other.subscribe('node-c', (id) => seen.push(`c:${id}`));

    await a.publish('node-a', 'i-1');
    await b.publish('node-b', 'i-2');
    stopB();
    await a.publish('node-a', 'i-3');
    expect(seen).toEqual(['b:i-1', 'a:i-2']);
    await Promise.all([a.close(), b.close(), other.close()]);
  });
});

describe(PostgresReadinessNotifier, () => {
  const schema = `psi_notify_${process.pid}`;
  const stores: PsiStore[] = [];
  afterAll(async () => {
    for (const store of stores) await store.close();
    const admin = await PsiStore.open({ url: POSTGRES_URL, migrate: false, poolSize: 1 });
    await admin.dataSource.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.close();
  });
  async function open(): Promise<PsiStore> {
    const store = await PsiStore.open({ url: POSTGRES_URL, schema, poolSize: 3 });
    stores.push(store);
    return store;
  }

  it('carries notices between stores over LISTEN/NOTIFY and listens again after its connection was killed, asking for a resync', async () => {
    const a = await open();
    const b = await open();
    const seen: string[] = [];
    let resyncs = 0;
    a.readiness().subscribe(
      'node-a',
      (id) => seen.push(id),
      () => resyncs++,
    );
    await (a.readiness() as PostgresReadinessNotifier).ready();

    await b.readiness().publish('node-b', 'i-1');
    await a.readiness().publish('node-a', 'own'); // the publisher's own notice is skipped
    await until(() => seen.includes('i-1'), 'A heard B');
    expect(resyncs).toBe(0); // nothing was missed yet

    // The server drops the listening connection: the notifier reconnects and listens again.
    const [listener] = (await b.dataSource.query(
      `SELECT pid FROM pg_stat_activity WHERE query = $1`,
      [`LISTEN "${channelFor(schema)}"`],
    )) as Array<{ pid: number }>;
    await b.dataSource.query('SELECT pg_terminate_backend($1)', [listener.pid]);
    let n = 0;
    await until(async () => {
      await b.readiness().publish('node-b', `again-${++n}`);
      return seen.some((id) => id.startsWith('again-'));
    }, 'A listens again');
    expect(seen).not.toContain('own');
    // Notices published while it was down are lost: the subscriber is told to look in the store.
    expect(resyncs).toBe(1);
  });

  it('names the channel after the schema, hashing names too long for an identifier', () => {
    expect(channelFor('public')).toBe('psi_ready_public');
    const long = channelFor('s'.repeat(60));
    expect(long).toMatch(/^psi_ready_[0-9a-f]{40}$/);
    expect(long.length).toBeLessThanOrEqual(63);
  });
});

// The SQLite store hands out the in-process notifier, one hub per file.
describe('PsiStore.readiness on SQLite', () => {
  it('connects two stores opened on the same file in one process', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-notify-'));
    const file = path.join(dir, 'psi.sqlite');
    const a = await PsiStore.open({ sqlitePath: file });
    const b = await PsiStore.open({ sqlitePath: file });
    try {
      const seen: string[] = [];
      a.readiness().subscribe('node-a', (id) => seen.push(id));
      await b.readiness().publish('node-b', 'i-1');
      expect(seen).toEqual(['i-1']);
    } finally {
      await a.close();
      await b.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
