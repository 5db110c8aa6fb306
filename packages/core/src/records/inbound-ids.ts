import { createHash } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { InboundMessageEntity } from '../store/entities/inbound-message.entity';
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

  /** Write side: remembers the id (and content) with the message's outcome. */
  async remember(tx: EntityManager, message: DedupedMessage): Promise<void> {
    if (message.inbound === undefined) return;
    const content = contentOf(message);
    const row = { receivedAt: message.receivedAt, content, contentHash: contentHash(content) };
    const key = { sender: message.sender, messageId: message.messageId };
    if (message.inbound === 'seen') {
      await updateRows(tx, InboundMessageEntity, key, row);
      return;
    }
    // Another node may have stored the same id meanwhile (a redelivery racing this one): its
    // row stands; this message's outcome is stored all the same, so nothing is lost.
    await insertRowIfAbsent(tx, InboundMessageEntity, { ...key, ...row, duplicates: 0 }, [
      'sender',
      'messageId',
    ]);
  }
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
