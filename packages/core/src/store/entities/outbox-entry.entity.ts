import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { epochMs } from '../columns';

export type OutboxStatus = 'pending' | 'sent' | 'failed';

/** A request committed together with its expectations; the dispatcher sends it (again) from here. */
@Entity('psi_outbox')
@Index('psi_outbox_due', ['status', 'nextAttemptAt'])
@Index('psi_outbox_invocation', ['invocationId'])
export class OutboxEntryEntity {
  /** The request id receivers dedupe on; stable across re-sends. */
  @PrimaryColumn('varchar') id!: string;
  @Column('varchar') invocationId!: string;
  @Column('varchar') service!: string;
  @Column('varchar') operation!: string;
  @Column('text', { nullable: true }) payload!: string | null;
  @Column('varchar') correlationKey!: string;
  @Column('varchar') status!: OutboxStatus;
  @Column('integer', { default: 0 }) attempts!: number;
  @Column('bigint', { transformer: epochMs }) nextAttemptAt!: number;
  @Column('text', { nullable: true }) lastError!: string | null;
  /** The synchronous reply, so a re-run of callService after a crash or thaw gets it without resending. */
  @Column('text', { nullable: true }) reply!: string | null;
  @Column('bigint', { transformer: epochMs }) createdAt!: number;
  @Column('bigint', { nullable: true, transformer: epochMs }) sentAt!: number | null;
  /** W3C trace context of the span that caused this row (see migration 1741000000000). */
  @Column('varchar', { nullable: true }) traceParent!: string | null;
  @Column('varchar', { nullable: true }) traceState!: string | null;
}
