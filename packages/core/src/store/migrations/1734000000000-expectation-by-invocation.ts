import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Expectations by invocation and status: "is anything of this invocation still open or claimed?"
 * is asked after every delivery and timeout. Without the index the question scans every open
 * expectation of every instance.
 */
export class ExpectationByInvocation1734000000000 implements MigrationInterface {
  name = 'ExpectationByInvocation1734000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'CREATE INDEX "psi_expectation_invocation" ON "psi_expectation" ("invocationId", "status")',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX "psi_expectation_invocation"');
  }
}
