import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { DeadLetterReason } from '../../spi/transport';
import { epochMs } from '../columns';

export type DeadLetterStatus = 'open' | 'replayed' | 'discarded';

/** An answer that could not be delivered, kept with its reason; never silently dropped. */
@Entity('psi_dead_letter')
@Index('psi_dead_letter_status', ['status', 'reason'])
@Index('psi_dead_letter_instance', ['instanceId'])
@Index('psi_dead_letter_rejected', ['messageId'], { where: `"reason" = 'rejected'` })
@Index('psi_dead_letter_resolved', ['resolvedAt'], { where: '"resolvedAt" IS NOT NULL' })
export class DeadLetterEntity {
  @PrimaryColumn('varchar') id!: string;
  @Column('varchar') messageId!: string;
  @Column('varchar') event!: string;
  @Column('varchar', { nullable: true }) correlationKey!: string | null;
  @Column('varchar', { nullable: true }) businessKey!: string | null;
  @Column('text', { nullable: true }) payload!: string | null;
  @Column('varchar', { nullable: true }) source!: string | null;
  @Column('varchar') reason!: DeadLetterReason;
  /** JSON: validation messages, candidates of an ambiguous match, the handler's error. */
  @Column('text', { nullable: true }) detail!: string | null;
  @Column('varchar', { nullable: true }) instanceId!: string | null;
  @Column('varchar', { nullable: true }) expectationId!: string | null;
  @Column('varchar') status!: DeadLetterStatus;
  @Column('bigint', { transformer: epochMs }) receivedAt!: number;
  @Column('bigint', { transformer: epochMs }) createdAt!: number;
  @Column('bigint', { nullable: true, transformer: epochMs }) resolvedAt!: number | null;
  /** JSON: what the replay of this letter became (a ReceiveOutcome), once replayed. */
  @Column('text', { nullable: true }) replayOutcome!: string | null;
  /** W3C trace context of the span that caused this row (see migration 1741000000000). */
  @Column('varchar', { nullable: true }) traceParent!: string | null;
  @Column('varchar', { nullable: true }) traceState!: string | null;
}
