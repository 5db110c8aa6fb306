import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The records that carry the trace context of the span that caused them (issue 18). */
const TRACED = ['psi_outbox', 'psi_expectation', 'psi_parked_message', 'psi_dead_letter'];

/** Indexes the store gauges read (see records/population.ts). */
const GAUGE_INDEXES = [
  `"psi_expectation_open" ON "psi_expectation" ("createdAt") WHERE "status" = 'open'`,
  `"psi_parked_received" ON "psi_parked_message" ("receivedAt")`,
  `"psi_process_guard_expiry" ON "psi_process_guard" ("expiresAt")`,
];

/**
 * Trace context stored with the work it belongs to: `traceParent` / `traceState` (W3C strings,
 * null without tracing) on outbox entries and expectations (the invoking span), parked answers
 * and dead letters (the answer's receive span). An answer delivered days later, after a
 * restart, on another node or by replay links to the request through them. Plus the indexes
 * the store gauges count from. Nullable columns: no rewrite of existing rows on either database.
 */
export class TraceContext1741000000000 implements MigrationInterface {
  name = 'TraceContext1741000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const table of TRACED) {
      await queryRunner.query(`ALTER TABLE "${table}" ADD COLUMN "traceParent" varchar`);
      await queryRunner.query(`ALTER TABLE "${table}" ADD COLUMN "traceState" varchar`);
    }
    for (const index of GAUGE_INDEXES) await queryRunner.query(`CREATE INDEX ${index}`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const index of GAUGE_INDEXES)
      await queryRunner.query(`DROP INDEX "${index.slice(1, index.indexOf('"', 1))}"`);
    for (const table of TRACED) {
      await queryRunner.query(`ALTER TABLE "${table}" DROP COLUMN "traceState"`);
      await queryRunner.query(`ALTER TABLE "${table}" DROP COLUMN "traceParent"`);
    }
  }
}
