import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { epochMs } from '../columns';

/** Persisted state of one engine instance, written by PEAL plugins through EngineStateRepository. */
@Entity('psi_engine_instance')
@Index('psi_engine_instance_running', ['engine', 'instanceId'], { where: '"running"' })
export class EngineInstanceEntity {
  @PrimaryColumn('varchar') engine!: string;
  @PrimaryColumn('varchar') instanceId!: string;
  @Column('text') state!: string;
  @Column('bigint', { transformer: epochMs }) updatedAt!: number;
  /** False once the instance ended: `restore()` lists only the running ones. */
  @Column('boolean', { default: true }) running!: boolean;
}
