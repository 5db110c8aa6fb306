import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMs } from '../columns';

/** Persisted state of one engine instance, written by PEAL plugins through EngineStateRepository. */
@Entity('psi_engine_instance')
export class EngineInstanceEntity {
  @PrimaryColumn('varchar') engine!: string;
  @PrimaryColumn('varchar') instanceId!: string;
  @Column('text') state!: string;
  @Column('bigint', { transformer: epochMs }) updatedAt!: number;
}
