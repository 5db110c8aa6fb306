import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { epochMs } from '../columns';

/** A held process guard: at most one row per id, freed by stop or expiry. */
@Entity('psi_process_guard')
@Index('psi_process_guard_expiry', ['expiresAt'])
export class ProcessGuardEntity {
  @PrimaryColumn('varchar') id!: string;
  @Column('varchar') ownerToken!: string;
  @Column('varchar') owner!: string;
  @Column('bigint', { transformer: epochMs }) startedAt!: number;
  @Column('bigint', { transformer: epochMs }) expiresAt!: number;
}
