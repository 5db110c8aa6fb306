import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { epochMs } from '../columns';

/**
 * Ids of recently received messages, for dedupe within the configured window. An id is unique
 * per sender (the namespace a transport vouches for, see `InboundMessage.sender`); the content
 * is kept so that a reused id with other content is told from a real duplicate.
 */
@Entity('psi_inbound_message')
@Index('psi_inbound_received', ['receivedAt'])
export class InboundMessageEntity {
  @PrimaryColumn('varchar') sender!: string;
  @PrimaryColumn('varchar') messageId!: string;
  @Column('bigint', { transformer: epochMs }) receivedAt!: number;
  @Column('integer', { default: 0 }) duplicates!: number;
  /** sha256 of the content; null for rows written before contents were kept (count as equal). */
  @Column('varchar', { nullable: true }) contentHash!: string | null;
  /** JSON `{ event, correlationKey, payload }` of the first message with this id. */
  @Column('text', { nullable: true }) content!: string | null;
}
