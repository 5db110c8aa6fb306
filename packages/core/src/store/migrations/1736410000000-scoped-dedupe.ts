import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Message ids are unique per sender, not across all senders: `psi_inbound_message` is keyed by
 * (`sender`, `messageId`) and keeps a hash of the content and the content itself, so a second
 * message with the same id but other content is kept as a `conflict` dead letter holding both.
 * Rows from before keep their ids under the empty sender (no content: they count as equal).
 * A replayed dead letter records what its replay became (`replayOutcome`, JSON).
 *
 * The table is rebuilt (a primary key cannot change in place on SQLite); the SQL reads the same
 * on SQLite and PostgreSQL.
 */
export class ScopedDedupe1736410000000 implements MigrationInterface {
  name = 'ScopedDedupe1736410000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'CREATE TABLE "psi_inbound_message_scoped" (' +
        '"sender" varchar NOT NULL, "messageId" varchar NOT NULL, "receivedAt" bigint NOT NULL, ' +
        '"duplicates" integer NOT NULL DEFAULT 0, "contentHash" varchar, "content" text, ' +
        'PRIMARY KEY ("sender", "messageId"))',
    );
    await queryRunner.query(
      'INSERT INTO "psi_inbound_message_scoped" ("sender", "messageId", "receivedAt", "duplicates") ' +
        `SELECT '', "messageId", "receivedAt", "duplicates" FROM "psi_inbound_message"`,
    );
    await queryRunner.query('DROP TABLE "psi_inbound_message"');
    await queryRunner.query(
      'ALTER TABLE "psi_inbound_message_scoped" RENAME TO "psi_inbound_message"',
    );
    await queryRunner.query(
      'CREATE INDEX "psi_inbound_received" ON "psi_inbound_message" ("receivedAt")',
    );
    await queryRunner.query('ALTER TABLE "psi_dead_letter" ADD COLUMN "replayOutcome" text');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE "psi_dead_letter" DROP COLUMN "replayOutcome"');
    await queryRunner.query(
      'CREATE TABLE "psi_inbound_message_global" ("messageId" varchar PRIMARY KEY NOT NULL, ' +
        '"receivedAt" bigint NOT NULL, "duplicates" integer NOT NULL DEFAULT 0)',
    );
    // Ids two senders shared collapse into one: keep the latest.
    await queryRunner.query(
      'INSERT INTO "psi_inbound_message_global" ("messageId", "receivedAt", "duplicates") ' +
        'SELECT "messageId", MAX("receivedAt"), SUM("duplicates") FROM "psi_inbound_message" ' +
        'GROUP BY "messageId"',
    );
    await queryRunner.query('DROP TABLE "psi_inbound_message"');
    await queryRunner.query(
      'ALTER TABLE "psi_inbound_message_global" RENAME TO "psi_inbound_message"',
    );
    await queryRunner.query(
      'CREATE INDEX "psi_inbound_received" ON "psi_inbound_message" ("receivedAt")',
    );
  }
}
