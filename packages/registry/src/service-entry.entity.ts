import { Column, Entity, PrimaryGeneratedColumn, Unique, UpdateDateColumn } from 'typeorm';

/** Number columns come back as strings from PostgreSQL `bigint`; read them as numbers. */
const bigintAsNumber = {
  to: (value: number | null | undefined): number | null | undefined => value,
  from: (value: string | number | null): number | null => (value === null ? null : Number(value)),
};

/**
 * One variant of one service in the table `psi_service_registry`, read by `DatabaseRegistry`.
 * Absent `version`, `environment` and `tenant` are stored as `''` so that the unique constraint
 * over service + version + environment + tenant also holds for the variant without them.
 * Operators may edit rows with plain SQL; the next resolve sees the change.
 */
@Entity({ name: 'psi_service_registry' })
@Unique('UQ_psi_service_registry_variant', ['service', 'version', 'environment', 'tenant'])
export class ServiceEntryEntity {
  @PrimaryGeneratedColumn('increment', { type: 'integer' })
  id!: number;

  @Column({ type: 'varchar', length: 255 })
  service!: string;

  @Column({ type: 'varchar', length: 64 })
  transport!: string;

  @Column({ type: 'text' })
  address!: string;

  @Column({ type: 'text', nullable: true })
  replyAddress!: string | null;

  @Column({ type: 'integer', nullable: true })
  timeoutMs!: number | null;

  @Column({
    type: 'bigint',
    nullable: true,
    transformer: bigintAsNumber,
  })
  parkingTtlMs!: number | null;

  /** The retry policy as JSON text, e.g. `{"maxAttempts":3}`. */
  @Column({ type: 'text', nullable: true })
  retry!: string | null;

  /** `''` when the variant has no version. */
  @Column({ type: 'varchar', length: 255, default: '' })
  version!: string;

  /** `''` when the variant has no environment. */
  @Column({ type: 'varchar', length: 255, default: '' })
  environment!: string;

  /** `''` when the variant has no tenant. */
  @Column({ type: 'varchar', length: 255, default: '' })
  tenant!: string;

  @UpdateDateColumn()
  updatedAt!: Date;
}
