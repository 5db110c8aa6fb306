import {
  Table,
  TableIndex,
  type MigrationInterface,
  type QueryRunner,
  type TableColumnOptions,
} from 'typeorm';

const str = (name: string, nullable = false): TableColumnOptions => ({
  name,
  type: 'varchar',
  isNullable: nullable,
});
const text = (name: string, nullable = false): TableColumnOptions => ({
  name,
  type: 'text',
  isNullable: nullable,
});
const ms = (name: string, nullable = false): TableColumnOptions => ({
  name,
  type: 'bigint',
  isNullable: nullable,
});
const count = (name: string): TableColumnOptions => ({ name, type: 'integer', default: 0 });

/**
 * Operator actions (issue 19): `psi_operation` holds each action run (single or bulk) with its
 * actor, reason, channel, lease and progress, `psi_operation_item` what it did to each target.
 * `psi_audit_activity` is a partial index on the audit kinds the console charts and lists by
 * time; the other kinds (most of the hot path's rows) write no entry into it.
 */
export class Operations1739000000000 implements MigrationInterface {
  name = 'Operations1739000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'psi_operation',
        columns: [
          { name: 'id', type: 'varchar', isPrimary: true },
          str('action'),
          text('selector'),
          str('actor'),
          text('reason'),
          str('channel'),
          str('status'),
          { name: 'ratePerSecond', type: 'integer', isNullable: true },
          str('bound', true),
          str('cursor', true),
          count('total'),
          count('succeeded'),
          count('failed'),
          count('skipped'),
          text('error', true),
          str('leaseOwner', true),
          ms('leaseExpiresAt', true),
          ms('createdAt'),
          ms('updatedAt'),
          ms('finishedAt', true),
        ],
        indices: [
          new TableIndex({
            name: 'psi_operation_status',
            columnNames: ['status', 'leaseExpiresAt'],
          }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'psi_operation_item',
        columns: [
          { name: 'operationId', type: 'varchar', isPrimary: true },
          { name: 'target', type: 'varchar', isPrimary: true },
          { name: 'position', type: 'integer' },
          str('status'),
          text('outcome', true),
          str('instanceId', true),
          ms('startedAt'),
          ms('finishedAt', true),
        ],
        indices: [
          new TableIndex({
            name: 'psi_operation_item_order',
            columnNames: ['operationId', 'position'],
          }),
        ],
      }),
    );
    // The same list as ACTIVITY_AUDIT_KINDS, written out: a migration must not change later.
    await queryRunner.query(
      `CREATE INDEX "psi_audit_activity" ON "psi_audit" ("kind", "at") WHERE "kind" IN (` +
        `'parked', 'dead-lettered', 'delivered', 'replayed', 'discarded', 'thawed', 'injected', ` +
        `'guard-released', 'parked-released', 'parked-expired', 'operation')`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX "psi_audit_activity"');
    await queryRunner.dropTable('psi_operation_item');
    await queryRunner.dropTable('psi_operation');
  }
}
