import { createHash } from 'node:crypto';
import { LessThan, type EntityManager } from 'typeorm';
import { InboundMessageEntity } from '../store/entities/inbound-message.entity';
import { deleteBatchBefore, type DeletedBatch } from '../store/batch-delete';
import { findRow, insertRowIfAbsent, updateRows } from '../store/row-statements';

/** What dedupe reads of a message just received (a received message has these fields). */
export interface DedupedMessage {
  /** The namespace of `messageId` (see `InboundMessage.sender`). */
  sender: string;
  messageId: string;
  event: string;
  correlationKey: string | null;
  businessKeys: string[];
  payloadText: string | null;
  receivedAt: number;
  /** Bookkeeping still to write: the id is `new`, or `seen` outside the window. */
  inbound?: 'new' | 'seen';
}

/** What dedupe makes of a message just received. */
export type DedupeVerdict =
  /** Same sender, same id, same content, within the window: acknowledge and ignore. */
  | { kind: 'duplicate' }
  /** Same sender and id within the window, other content: kept as a conflict, never dropped. */
  | { kind: 'conflict'; first: { receivedAt: number; content: unknown } }
  /** Never seen (`new`), or seen before the window (`seen`): handle it. */
  | { kind: 'new' | 'seen' };

/**
 * Dedupe of inbound messages by (sender, message id) within a window. The id is remembered in
 * the transaction that stores what became of the message (see Correlator), never before, so a
 * node that dies in between leaves it unseen and the sender's retry is handled.
 */
export class InboundDedupe {
  constructor(private readonly windowMs: number) {}

  /** Read side: a duplicate is counted here. */
  async check(tx: EntityManager, message: DedupedMessage): Promise<DedupeVerdict> {
    const key = { sender: message.sender, messageId: message.messageId };
    const seen = await findRow(tx, InboundMessageEntity, key);
    if (!seen) return { kind: 'new' };
    if (message.receivedAt - seen.receivedAt >= this.windowMs) return { kind: 'seen' };
    // Rows written before contents were kept have no hash: they count as equal.
    if (seen.contentHash !== null && seen.contentHash !== contentHash(contentOf(message))) {
      return {
        kind: 'conflict',
        first: {
          receivedAt: seen.receivedAt,
          content: seen.content === null ? null : (JSON.parse(seen.content) as unknown),
        },
      };
    }
    await tx.increment(InboundMessageEntity, key, 'duplicates', 1);
    return { kind: 'duplicate' };
  }

  /**
   * Write side: remembers the id (and content) with the message's outcome. A message with the
   * same id may have stored its outcome since {@link check} (in the same batch, on another lane
   * or node): the primary key then refuses this id, and what the stored row makes of the
   * message (`duplicate` or `conflict`) is returned instead of `remembered`, so the caller
   * stores nothing else for it.
   */
  async remember(
    tx: EntityManager,
    message: DedupedMessage,
  ): Promise<{ kind: 'remembered' } | Extract<DedupeVerdict, { kind: 'duplicate' | 'conflict' }>> {
    if (message.inbound === undefined) return { kind: 'remembered' };
    const content = contentOf(message);
    const row = { receivedAt: message.receivedAt, content, contentHash: contentHash(content) };
    const key = { sender: message.sender, messageId: message.messageId };
    if (message.inbound === 'seen') {
      await updateRows(tx, InboundMessageEntity, key, row);
      return { kind: 'remembered' };
    }
    const inserted = await insertRowIfAbsent(
      tx,
      InboundMessageEntity,
      { ...key, ...row, duplicates: 0 },
      ['sender', 'messageId'],
    );
    if (inserted) return { kind: 'remembered' };
    // A redelivery racing this one stored its outcome first (PostgreSQL's INSERT … ON CONFLICT
    // waited for its transaction to commit): this one is its duplicate, or a conflict.
    const verdict = await this.check(tx, message);
    if (verdict.kind === 'duplicate' || verdict.kind === 'conflict') return verdict;
    return { kind: 'remembered' };
  }
}

/** Forgets the ids received before `before` (outside the dedupe window): the scheduler's clean-up. */
export async function forgetInboundIdsBefore(tx: EntityManager, before: number): Promise<void> {
  await tx
    .createQueryBuilder()
    .delete()
    .from(InboundMessageEntity)
    .where({ receivedAt: LessThan(before) })
    .execute();
}

/** Retention: deletes a batch of the ids received before `cutoff`. */
export function deleteInboundIdsBefore(
  tx: EntityManager,
  cutoff: number,
  batchSize: number,
): Promise<DeletedBatch> {
  return deleteBatchBefore(tx, InboundMessageEntity, 'receivedAt', cutoff, batchSize);
}

/** The content dedupe compares: event, correlation key, business keys and payload. */
function contentOf(message: DedupedMessage): string {
  return (
    `{"event":${JSON.stringify(message.event)},` +
    `"correlationKey":${JSON.stringify(message.correlationKey)},` +
    `"businessKeys":${JSON.stringify(message.businessKeys)},` +
    `"payload":${message.payloadText ?? 'null'}}`
  );
}

function contentHash(content: string): string {
  return createHash('sha256').update(content).digest('base64url');
}
