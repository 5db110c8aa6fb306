import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { epochMs } from '../columns';

export type AuditKind =
  | 'invoked'
  | 'sent'
  | 'reply'
  | 'received'
  | 'duplicate'
  | 'parked'
  | 'released'
  | 'delivered'
  | 'timed-out'
  | 'retried'
  | 'frozen'
  | 'thawed'
  | 'failed'
  | 'dead-lettered'
  | 'completed'
  /** A wait state's entry recorded what it waits for (or, `left`, closed what it still did). */
  | 'awaiting';

/** One step in the life of an instance's service calls, for operators and tests. */
@Entity('psi_audit')
@Index('psi_audit_instance', ['instanceId', 'seq'])
export class AuditEntryEntity {
  @PrimaryGeneratedColumn('increment') seq!: number;
  @Column('varchar', { nullable: true }) instanceId!: string | null;
  @Column('varchar', { nullable: true }) invocationId!: string | null;
  @Column('varchar') kind!: AuditKind;
  @Column('text', { nullable: true }) detail!: string | null;
  @Column('bigint', { transformer: epochMs }) at!: number;
}
