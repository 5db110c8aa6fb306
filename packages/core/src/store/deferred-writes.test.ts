import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { deferInsert, deferUpdate, flushDeferredWrites } from './deferred-writes';
import { OutboxEntryEntity } from './entities/outbox-entry.entity';
import { PsiStore } from './psi-store';
import { findRow, updateRows } from './row-statements';

const POSTGRES_URL =
  process.env.PSI_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function entry(id: string): OutboxEntryEntity {
  return {
    id,
    invocationId: 'inv-1',
    service: 'warehouse',
    operation: 'pick',
    payload: null,
    correlationKey: `key-${id}`,
    status: 'pending',
    attempts: 0,
    nextAttemptAt: 1_700_000_000_000,
    lastError: null,
    reply: null,
    createdAt: 1_700_000_000_000,
    sentAt: null,
    traceParent: null,
    traceState: null,
  };
}

/** An outbox entry marked sent, as records/outbox.ts defers it. */
function markSent(tx: EntityManager, id: string, attempts: number, reply: string | null): void {
  deferUpdate(tx, OutboxEntryEntity, ['id'], {
    id,
    status: 'sent',
    attempts,
    sentAt: 1_700_000_000_000 + attempts,
    reply,
  });
}

describe.each(['sqlite3', 'better-sqlite3', 'postgres'] as const)(
  'deferred writes on %s',
  (kind) => {
    let store: PsiStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      if (kind === 'postgres') {
        const schema = `deferred_${randomBytes(4).toString('hex')}`;
        store = await PsiStore.open({ url: POSTGRES_URL, schema, poolSize: 2 });
        cleanup = async () => {
          await store.dataSource.query(`DROP SCHEMA "${schema}" CASCADE`);
          await store.close();
        };
      } else {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-deferred-writes-'));
        store = await PsiStore.open({
          sqlitePath: path.join(dir, 'psi.sqlite'),
          sqliteDriver: kind,
        });
        cleanup = async () => {
          await store.close();
          fs.rmSync(dir, { recursive: true, force: true });
        };
      }
    });
    afterEach(() => cleanup());

    /** The outbox as committed, by id: status, attempts, sentAt and reply. */
    const committed = async (): Promise<Array<Partial<OutboxEntryEntity>>> =>
      (await store.transaction((tx) => tx.find(OutboxEntryEntity, { order: { id: 'ASC' } }))).map(
        ({ id, status, attempts, sentAt, reply }) => ({ id, status, attempts, sentAt, reply }),
      );

    it('writes the updates of a batch per row, the last of each row winning, and drops a failed unit’s', async () => {
      await store.transaction(async (tx) => {
        for (const id of ['a', 'b', 'c']) deferInsert(tx, OutboxEntryEntity, entry(id), ['id']);
      });
      const results = await Promise.allSettled([
        store.transaction(async (tx) => markSent(tx, 'a', 1, null)),
        store.transaction(async (tx) => {
          markSent(tx, 'b', 1, '{"ok":true}');
          throw new Error('boom');
        }),
        store.transaction(async (tx) => {
          markSent(tx, 'c', 1, null);
          markSent(tx, 'a', 2, '"again"');
        }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(await committed()).toEqual([
        { id: 'a', status: 'sent', attempts: 2, sentAt: 1_700_000_000_002, reply: '"again"' },
        { id: 'b', status: 'pending', attempts: 0, sentAt: null, reply: null },
        { id: 'c', status: 'sent', attempts: 1, sentAt: 1_700_000_000_001, reply: null },
      ]);
    });

    it('writes an insert and a later update of the same row in that order', async () => {
      await Promise.all([
        store.transaction(async (tx) => deferInsert(tx, OutboxEntryEntity, entry('a'), ['id'])),
        store.transaction(async (tx) => markSent(tx, 'a', 1, null)),
        store.transaction(async (tx) => deferInsert(tx, OutboxEntryEntity, entry('b'), ['id'])),
      ]);
      expect((await committed()).map((row) => [row.id, row.status])).toEqual([
        ['a', 'sent'],
        ['b', 'pending'],
      ]);
    });

    it('writes the deferred writes of a row before a row statement on it', async () => {
      const [read, written] = await store.transaction(async (tx) => {
        deferInsert(tx, OutboxEntryEntity, entry('a'), ['id']);
        markSent(tx, 'a', 1, null);
        const read = await findRow(tx, OutboxEntryEntity, { id: 'a' });
        // A direct update after the deferred one: it must not be overwritten at COMMIT.
        const written = await updateRows(
          tx,
          OutboxEntryEntity,
          { id: 'a' },
          { status: 'failed', lastError: 'x' },
        );
        return [read, written];
      });
      expect(read?.status).toBe('sent');
      expect(written).toBe(1);
      expect((await committed()).map((row) => row.status)).toEqual(['failed']);
    });

    it('leaves other rows deferred when a statement names one row by its key', async () => {
      const seen = await store.transaction(async (tx) => {
        deferInsert(tx, OutboxEntryEntity, entry('a'), ['id']);
        deferInsert(tx, OutboxEntryEntity, entry('b'), ['id']);
        await findRow(tx, OutboxEntryEntity, { id: 'b' });
        // TypeORM's find does not write deferred rows: it shows what the keyed read wrote.
        const afterKeyed = (await tx.find(OutboxEntryEntity)).map((row) => row.id);
        await findRow(tx, OutboxEntryEntity, { invocationId: 'inv-1' });
        const afterUnkeyed = (await tx.find(OutboxEntryEntity, { order: { id: 'ASC' } })).map(
          (row) => row.id,
        );
        return { afterKeyed, afterUnkeyed };
      });
      expect(seen).toEqual({ afterKeyed: ['b'], afterUnkeyed: ['a', 'b'] });
    });

    it('writes everything deferred when flushed for a read that is not a row statement', async () => {
      const ids = await store.transaction(async (tx) => {
        deferInsert(tx, OutboxEntryEntity, entry('a'), ['id']);
        markSent(tx, 'a', 1, null);
        await flushDeferredWrites(tx, OutboxEntryEntity);
        return (await tx.find(OutboxEntryEntity)).map((row) => `${row.id}:${row.status}`);
      });
      expect(ids).toEqual(['a:sent']);
    });

    it('fails the unit whose deferred write fails at COMMIT, and commits the others of its batch', async () => {
      await store.transaction(async (tx) =>
        deferInsert(tx, OutboxEntryEntity, entry('taken'), ['id']),
      );
      const results = await Promise.allSettled([
        store.transaction(async (tx) => deferInsert(tx, OutboxEntryEntity, entry('a'), ['id'])),
        // A primary key that exists: the multi-row INSERT before COMMIT fails.
        store.transaction(async (tx) => deferInsert(tx, OutboxEntryEntity, entry('taken'), ['id'])),
        store.transaction(async (tx) => deferInsert(tx, OutboxEntryEntity, entry('b'), ['id'])),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((await committed()).map((row) => row.id)).toEqual(['a', 'b', 'taken']);
    });

    it('writes more rows than fit in one statement', async () => {
      const ids = Array.from({ length: 230 }, (_, i) => `e${String(i).padStart(3, '0')}`);
      await store.transaction(async (tx) => {
        for (const id of ids) deferInsert(tx, OutboxEntryEntity, entry(id), ['id']);
      });
      await store.transaction(async (tx) => {
        for (const id of ids) markSent(tx, id, 1, id);
      });
      const rows = await committed();
      expect(rows).toHaveLength(230);
      expect(rows.every((row) => row.status === 'sent' && row.reply === row.id)).toBe(true);
    });
  },
);
