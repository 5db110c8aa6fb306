import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { epochMs } from '../columns';

/** An answer that arrived before its instance was ready, or before any expectation existed. */
@Entity('psi_parked_message')
@Index('psi_parked_correlation', ['correlationKey', 'event'])
@Index('psi_parked_business', ['businessKey', 'event'], { where: '"businessKey" IS NOT NULL' })
@Index('psi_parked_instance', ['instanceId'])
@Index('psi_parked_expiry', ['expiresAt'])
@Index('psi_parked_expectation', ['expectationId'], { where: '"expectationId" IS NOT NULL' })
@Index('psi_parked_received', ['receivedAt'])
export class ParkedMessageEntity {
  /** Increasing: delivery order is arrival order. */
  @PrimaryGeneratedColumn('increment') seq!: number;
  @Column('varchar') messageId!: string;
  @Column('varchar') event!: string;
  @Column('varchar', { nullable: true }) correlationKey!: string | null;
  @Column('varchar', { nullable: true }) businessKey!: string | null;
  @Column('text', { nullable: true }) payload!: string | null;
  @Column('varchar', { nullable: true }) source!: string | null;
  @Column('varchar', { nullable: true }) expectationId!: string | null;
  @Column('varchar', { nullable: true }) instanceId!: string | null;
  @Column('bigint', { transformer: epochMs }) receivedAt!: number;
  @Column('bigint', { transformer: epochMs }) expiresAt!: number;
  /** W3C trace context of the span that caused this row (see migration 1741000000000). */
  @Column('varchar', { nullable: true }) traceParent!: string | null;
  @Column('varchar', { nullable: true }) traceState!: string | null;
}
