import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { epochMs } from '../columns';
import { ACTIVITY_KINDS_SQL } from '../migrations/activity-audit-kinds';

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
  /** An inbound message started a process instance (a BPMN message or signal start event). */
  | 'started'
  /** A wait state's entry recorded what it waits for (or, `left`, closed what it still did). */
  | 'awaiting'
  // Operator actions (packages/core/src/operations): detail holds actor, reason and channel.
  | 'replayed'
  | 'discarded'
  | 'injected'
  | 'guard-released'
  | 'parked-released'
  | 'parked-expired'
  | 'operation';

/** One step in the life of an instance's service calls, for operators and tests. */
@Entity('psi_audit')
@Index('psi_audit_instance', ['instanceId', 'seq'])
// Partial: only the kinds charted and listed by time (migration 1739000000000 names them).
@Index('psi_audit_activity', ['kind', 'at'], { where: `"kind" IN (${ACTIVITY_KINDS_SQL})` })
export class AuditEntryEntity {
  @PrimaryGeneratedColumn('increment') seq!: number;
  @Column('varchar', { nullable: true }) instanceId!: string | null;
  @Column('varchar', { nullable: true }) invocationId!: string | null;
  @Column('varchar') kind!: AuditKind;
  @Column('text', { nullable: true }) detail!: string | null;
  @Column('bigint', { transformer: epochMs }) at!: number;
}
