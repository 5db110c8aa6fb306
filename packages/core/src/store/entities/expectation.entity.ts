import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { epochMs } from '../columns';

export type ExpectationStatus =
  'open' | 'claimed' | 'delivered' | 'timed-out' | 'superseded' | 'cancelled';

/** Instance I, at wait state W, expects event E, matched by correlation or business key, until D. */
@Entity('psi_expectation')
@Index('psi_expectation_correlation', ['correlationKey', 'event'])
@Index('psi_expectation_business', ['businessKey', 'event'], { where: '"businessKey" IS NOT NULL' })
@Index('psi_expectation_instance', ['instanceId', 'waitState', 'status'])
// Partial on literal predicates, which the queries repeat (migration 1740100000000).
@Index('psi_expectation_deadline', ['deadline'], {
  where: `"status" = 'open' AND "deadline" IS NOT NULL`,
})
@Index('psi_expectation_invocation', ['invocationId', 'status'])
@Index('psi_expectation_claimed', ['id', 'claimedBy'], { where: `"status" = 'claimed'` })
@Index('psi_expectation_timeout_pending', ['instanceId'], { where: '"timeoutPending"' })
@Index('psi_expectation_activation', ['instanceId', 'activationId'], {
  where: '"activationId" IS NOT NULL',
})
@Index('psi_expectation_open', ['createdAt'], { where: `"status" = 'open'` })
export class ExpectationEntity {
  @PrimaryColumn('varchar') id!: string;
  @Column('varchar') invocationId!: string;
  @Column('varchar') instanceId!: string;
  @Column('varchar') adapter!: string;
  @Column('varchar') event!: string;
  @Column('varchar') waitState!: string;
  @Column('varchar', { nullable: true }) correlationKey!: string | null;
  @Column('varchar', { nullable: true }) businessKey!: string | null;
  @Column('varchar', { nullable: true }) groupId!: string | null;
  @Column('bigint', { nullable: true, transformer: epochMs }) deadline!: number | null;
  @Column('varchar', { nullable: true }) timeoutTransition!: string | null;
  /** A timeout that won the claim but could not yet be signalled (instance not at the wait state). */
  @Column('boolean', { default: false }) timeoutPending!: boolean;
  @Column('bigint', { nullable: true, transformer: epochMs }) parkingTtlMs!: number | null;
  @Column('varchar') status!: ExpectationStatus;
  @Column('bigint', { transformer: epochMs }) createdAt!: number;
  @Column('bigint', { nullable: true, transformer: epochMs }) closedAt!: number | null;
  /** While `claimed`: the node delivering it, until when (renewed), and the answer (JSON). */
  @Column('varchar', { nullable: true }) claimedBy!: string | null;
  @Column('bigint', { nullable: true, transformer: epochMs }) claimExpiresAt!: number | null;
  @Column('text', { nullable: true }) claimedMessage!: string | null;
  /** The delivery's id, given by the claim; the same when recovery runs it again; kept once delivered. */
  @Column('varchar', { nullable: true }) deliveryId!: string | null;
  /**
   * The engine's entry into the wait state, for expectations the wait state declared itself
   * (see `WaitStateEnteredEvent.awaits`); null for an adapter's.
   */
  @Column('varchar', { nullable: true }) activationId!: string | null;
  /** The entry takes every answer and stays (delivery reopens it instead of closing it). */
  @Column('boolean', { default: false }) repeats!: boolean;
  /** W3C trace context of the span that caused this row (see migration 1741000000000). */
  @Column('varchar', { nullable: true }) traceParent!: string | null;
  @Column('varchar', { nullable: true }) traceState!: string | null;
}
