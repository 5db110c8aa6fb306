import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { epochMs } from '../columns';

/** Ids of recently received messages, for dedupe within the configured window. */
@Entity('psi_inbound_message')
@Index('psi_inbound_received', ['receivedAt'])
export class InboundMessageEntity {
  @PrimaryColumn('varchar') messageId!: string;
  @Column('bigint', { transformer: epochMs }) receivedAt!: number;
  @Column('integer', { default: 0 }) duplicates!: number;
}
