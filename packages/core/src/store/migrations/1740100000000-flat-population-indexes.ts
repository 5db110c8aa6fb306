import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Each index as it is after (`up`) and as it was before (`down`); null: it did not exist. */
const INDEXES = [
  {
    // The deadline scheduler's due and next-due queries: only open expectations with a
    // deadline, in deadline order (the next one due is the first entry).
    name: 'psi_expectation_deadline',
    up: `ON "psi_expectation" ("deadline") WHERE "status" = 'open' AND "deadline" IS NOT NULL`,
    down: `ON "psi_expectation" ("status", "deadline") WHERE "deadline" IS NOT NULL`,
  },
  {
    // The lease sweep pages through claims in id order: only claimed rows, in that order.
    name: 'psi_expectation_claimed',
    up: `ON "psi_expectation" ("id", "claimedBy") WHERE "status" = 'claimed'`,
    down: `ON "psi_expectation" ("claimedBy") WHERE "status" = 'claimed'`,
  },
  {
    // "Has this expectation a parked answer?" (a timeout loses to one): asked per due deadline.
    name: 'psi_parked_expectation',
    up: `ON "psi_parked_message" ("expectationId") WHERE "expectationId" IS NOT NULL`,
    down: null,
  },
] as const;

/**
 * Indexes whose size and cost follow the rows that are due, claimed or parked, not the
 * population: at a million open expectations (and five million closed ones) the deadline
 * scheduler's next-due query, a timeout's "answer parked?" check and the lease sweep's lapsed
 * claims each read all rows before (issue 23; bench/entries/scale.ts). The predicates are
 * literals the queries repeat (`status = 'open'`, not a bound parameter), which is what lets
 * SQLite and PostgreSQL use a partial index. The SQL reads the same on both databases.
 */
export class FlatPopulationIndexes1740100000000 implements MigrationInterface {
  name = 'FlatPopulationIndexes1740100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const index of INDEXES) {
      if (index.down !== null) await queryRunner.query(`DROP INDEX "${index.name}"`);
      await queryRunner.query(`CREATE INDEX "${index.name}" ${index.up}`);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const index of INDEXES) {
      await queryRunner.query(`DROP INDEX "${index.name}"`);
      if (index.down !== null)
        await queryRunner.query(`CREATE INDEX "${index.name}" ${index.down}`);
    }
  }
}
