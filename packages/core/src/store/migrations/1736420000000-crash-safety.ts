import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Crash safety (a claim is a commitment; a dead node noticed in seconds; restores that do not
 * grow with history):
 *
 * - `psi_expectation.deliveryId`: the id a claim gives its delivery, the same on every re-run
 *   of it after a crash (handlers key their side effects on it); kept once delivered;
 * - `psi_expectation_claimed`: the claims in flight by node, so finding a dead node's claims
 *   does not scan the whole table; `psi_expectation_timeout_pending`: timeouts that won but wait
 *   to be signalled, which a start looks at (ended instances' are settled);
 * - `psi_engine_instance.running` with the partial index `psi_engine_instance_running`: the
 *   instances a plugin's `restore()` needs, without reading the ended ones. Rows written before
 *   are marked from their state (a running instance's JSON holds `"status":"running"`; a
 *   spurious match is only read once more by `restore()`).
 *
 * The SQL reads the same on SQLite and PostgreSQL but for the boolean default.
 */
export class CrashSafety1736420000000 implements MigrationInterface {
  name = 'CrashSafety1736420000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const postgres = queryRunner.connection.options.type === 'postgres';
    await queryRunner.query('ALTER TABLE "psi_expectation" ADD COLUMN "deliveryId" varchar');
    await queryRunner.query(
      `CREATE INDEX "psi_expectation_claimed" ON "psi_expectation" ("claimedBy") WHERE "status" = 'claimed'`,
    );
    await queryRunner.query(
      'CREATE INDEX "psi_expectation_timeout_pending" ON "psi_expectation" ("instanceId") WHERE "timeoutPending"',
    );
    await queryRunner.query(
      `ALTER TABLE "psi_engine_instance" ADD COLUMN "running" boolean NOT NULL DEFAULT ${postgres ? 'true' : '1'}`,
    );
    await queryRunner.query(
      `UPDATE "psi_engine_instance" SET "running" = ${postgres ? 'false' : '0'} WHERE "state" NOT LIKE '%"status":"running"%'`,
    );
    await queryRunner.query(
      'CREATE INDEX "psi_engine_instance_running" ON "psi_engine_instance" ("engine", "instanceId") WHERE "running"',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX "psi_engine_instance_running"');
    await queryRunner.query('ALTER TABLE "psi_engine_instance" DROP COLUMN "running"');
    await queryRunner.query('DROP INDEX "psi_expectation_timeout_pending"');
    await queryRunner.query('DROP INDEX "psi_expectation_claimed"');
    await queryRunner.query('ALTER TABLE "psi_expectation" DROP COLUMN "deliveryId"');
  }
}
