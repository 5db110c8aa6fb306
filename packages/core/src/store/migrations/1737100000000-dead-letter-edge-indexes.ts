import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Two small partial indexes on dead letters: `rejected` letters by message id (a transport
 * record handed over again, after a crash or a rebalance, finds the letter it already has) and
 * resolved letters by resolution time (retention deletes those past their age). Open letters of
 * other reasons are in neither.
 */
export class DeadLetterEdgeIndexes1737100000000 implements MigrationInterface {
  name = 'DeadLetterEdgeIndexes1737100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX "psi_dead_letter_rejected" ON "psi_dead_letter" ("messageId") WHERE "reason" = 'rejected'`,
    );
    await queryRunner.query(
      'CREATE INDEX "psi_dead_letter_resolved" ON "psi_dead_letter" ("resolvedAt") WHERE "resolvedAt" IS NOT NULL',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX "psi_dead_letter_resolved"');
    await queryRunner.query('DROP INDEX "psi_dead_letter_rejected"');
  }
}
