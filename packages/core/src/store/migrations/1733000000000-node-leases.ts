import type { MigrationInterface, QueryRunner } from 'typeorm';

// ALTER TABLE ... ADD COLUMN and CREATE INDEX read the same on SQLite and PostgreSQL (unqualified
// names resolve through the connection's search_path there), and SQLite adds columns in place
// instead of copying the table as TypeORM's addColumn would.
const columns: Array<{ table: string; column: string; type: 'varchar' | 'bigint' | 'text' }> = [
  { table: 'psi_invocation', column: 'leaseOwner', type: 'varchar' },
  { table: 'psi_invocation', column: 'leaseExpiresAt', type: 'bigint' },
  { table: 'psi_expectation', column: 'claimedBy', type: 'varchar' },
  { table: 'psi_expectation', column: 'claimExpiresAt', type: 'bigint' },
  { table: 'psi_expectation', column: 'claimedMessage', type: 'text' },
];

/**
 * Several nodes on one database: a running invocation carries a lease (owner node, expiry) so a
 * node that died is replaced once its lease lapses; a claimed expectation carries its claimer,
 * the claim's expiry and the answer being delivered, so a delivery interrupted by a dead node is
 * settled by another instead of staying `claimed` for ever.
 */
export class NodeLeases1733000000000 implements MigrationInterface {
  name = 'NodeLeases1733000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const { table, column, type } of columns) {
      await queryRunner.query(`ALTER TABLE "${table}" ADD COLUMN "${column}" ${type}`);
    }
    await queryRunner.query(
      'CREATE INDEX "psi_invocation_lease" ON "psi_invocation" ("status", "leaseExpiresAt")',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX "psi_invocation_lease"');
    for (const { table, column } of [...columns].reverse()) {
      await queryRunner.query(`ALTER TABLE "${table}" DROP COLUMN "${column}"`);
    }
  }
}
