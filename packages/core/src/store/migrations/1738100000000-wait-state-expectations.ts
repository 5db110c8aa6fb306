import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Expectations a wait state declares itself (no service call before it): the engine's entry
 * they belong to (`activationId`: recorded once per entry, signalled at that entry of a
 * multi-instance activity, closed when the instance leaves it) and whether the entry takes every
 * answer (`repeats`: a non-interrupting message boundary event). Adapter expectations have
 * neither. The index holds only rows with an entry, so adapter expectations write nothing to it.
 */
export class WaitStateExpectations1738100000000 implements MigrationInterface {
  name = 'WaitStateExpectations1738100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "psi_expectation" ADD COLUMN "activationId" varchar NULL`);
    // Each database's own spelling of false, as TypeORM's schema builder writes it.
    const no = queryRunner.connection.driver.options.type === 'postgres' ? 'false' : '(0)';
    await queryRunner.query(
      `ALTER TABLE "psi_expectation" ADD COLUMN "repeats" boolean NOT NULL DEFAULT ${no}`,
    );
    await queryRunner.query(
      `CREATE INDEX "psi_expectation_activation" ON "psi_expectation" ("instanceId", "activationId") WHERE "activationId" IS NOT NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "psi_expectation_activation"`);
    await queryRunner.query(`ALTER TABLE "psi_expectation" DROP COLUMN "repeats"`);
    await queryRunner.query(`ALTER TABLE "psi_expectation" DROP COLUMN "activationId"`);
  }
}
