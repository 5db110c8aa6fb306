import { Table, TableUnique } from 'typeorm';
import type { MigrationInterface, QueryRunner } from 'typeorm';

const table = 'psi_service_registry';

/**
 * Creates `psi_service_registry`, the table of {@link ServiceEntryEntity}. Written with the
 * QueryRunner Table API so that it runs unchanged on SQLite and PostgreSQL; the `updatedAt`
 * type and default are the driver's own, as `@UpdateDateColumn` would choose them.
 */
export class CreateServiceRegistryTable1732000000100 implements MigrationInterface {
  readonly name = 'CreateServiceRegistryTable1732000000100';

  async up(queryRunner: QueryRunner): Promise<void> {
    const types = queryRunner.connection.driver.mappedDataTypes;
    await queryRunner.createTable(
      new Table({
        name: table,
        columns: [
          {
            name: 'id',
            type: 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          { name: 'service', type: 'varchar', length: '255' },
          { name: 'transport', type: 'varchar', length: '64' },
          { name: 'address', type: 'text' },
          { name: 'replyAddress', type: 'text', isNullable: true },
          { name: 'timeoutMs', type: 'integer', isNullable: true },
          { name: 'parkingTtlMs', type: 'bigint', isNullable: true },
          { name: 'retry', type: 'text', isNullable: true },
          { name: 'version', type: 'varchar', length: '255', default: "''" },
          { name: 'environment', type: 'varchar', length: '255', default: "''" },
          { name: 'tenant', type: 'varchar', length: '255', default: "''" },
          {
            name: 'updatedAt',
            type: String(types.updateDate),
            precision: types.updateDatePrecision,
            default: types.updateDateDefault,
          },
        ],
        uniques: [
          new TableUnique({
            name: 'UQ_psi_service_registry_variant',
            columnNames: ['service', 'version', 'environment', 'tenant'],
          }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable(table, true);
  }
}
