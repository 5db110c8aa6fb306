import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { epochMs } from '../columns';

export type InvocationStatus = 'running' | 'waiting' | 'completed' | 'failed' | 'frozen';

/** One run of an adapter for one entry of an instance into a service step. */
@Entity('psi_invocation')
@Index('psi_invocation_activation', ['instanceId', 'activationId'], { unique: true })
@Index('psi_invocation_lease', ['status', 'leaseExpiresAt'])
export class InvocationEntity {
  @PrimaryColumn('varchar') id!: string;
  @Column('varchar') instanceId!: string;
  @Column('varchar') activationId!: string;
  @Column('varchar') step!: string;
  @Column('varchar') adapter!: string;
  @Column('varchar') service!: string;
  @Column('varchar') correlationKey!: string;
  @Column('varchar') status!: InvocationStatus;
  @Column('text', { nullable: true }) lastError!: string | null;
  @Column('bigint', { transformer: epochMs }) createdAt!: number;
  @Column('bigint', { transformer: epochMs }) updatedAt!: number;
  /** The node running it while `running`; another node takes it over once the lease lapses. */
  @Column('varchar', { nullable: true }) leaseOwner!: string | null;
  @Column('bigint', { nullable: true, transformer: epochMs }) leaseExpiresAt!: number | null;
}
