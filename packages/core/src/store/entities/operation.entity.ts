import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { epochMs } from '../columns';

export type OperationStatus = 'pending' | 'running' | 'done' | 'cancelled' | 'failed';

/**
 * An operator's action on one or many records (replay, discard, thaw, ...): a durable run that
 * any node continues when the one running it dies (its lease lapses), with actor, reason and
 * channel, progress counters and a cursor over its targets.
 */
@Entity('psi_operation')
@Index('psi_operation_status', ['status', 'leaseExpiresAt'])
export class OperationEntity {
  @PrimaryColumn('varchar') id!: string;
  @Column('varchar') action!: string;
  /** JSON: `{ ids }`, `{ filter }` or `{ message }` (inject). */
  @Column('text') selector!: string;
  @Column('varchar') actor!: string;
  @Column('text') reason!: string;
  @Column('varchar') channel!: string;
  @Column('varchar') status!: OperationStatus;
  /** Most items started per second; null: no limit. */
  @Column('integer', { nullable: true }) ratePerSecond!: number | null;
  /** Targets above this key (created after the run was confirmed) are left alone. */
  @Column('varchar', { nullable: true }) bound!: string | null;
  /** Key of the last target started, in the target list's order. */
  @Column('varchar', { nullable: true }) cursor!: string | null;
  /** Targets counted when the run was submitted (a bulk run's estimate). */
  @Column('integer', { default: 0 }) total!: number;
  @Column('integer', { default: 0 }) succeeded!: number;
  @Column('integer', { default: 0 }) failed!: number;
  @Column('integer', { default: 0 }) skipped!: number;
  /** JSON: why the run as a whole stopped (status `failed`). */
  @Column('text', { nullable: true }) error!: string | null;
  @Column('varchar', { nullable: true }) leaseOwner!: string | null;
  @Column('bigint', { nullable: true, transformer: epochMs }) leaseExpiresAt!: number | null;
  @Column('bigint', { transformer: epochMs }) createdAt!: number;
  @Column('bigint', { transformer: epochMs }) updatedAt!: number;
  @Column('bigint', { nullable: true, transformer: epochMs }) finishedAt!: number | null;
}
