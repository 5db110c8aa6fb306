import {
  Table,
  TableIndex,
  type MigrationInterface,
  type QueryRunner,
  type TableColumnOptions,
} from 'typeorm';

// Written with TypeORM's Table API, not raw SQL, so one migration serves SQLite and PostgreSQL.
const text = (name: string, nullable = false): TableColumnOptions => ({
  name,
  type: 'text',
  isNullable: nullable,
});
const str = (name: string, nullable = false): TableColumnOptions => ({
  name,
  type: 'varchar',
  isNullable: nullable,
});
const ms = (name: string, nullable = false): TableColumnOptions => ({
  name,
  type: 'bigint',
  isNullable: nullable,
});
const int = (name: string): TableColumnOptions => ({ name, type: 'integer', default: 0 });
// Default filled in per database in up(): SQLite stores booleans as 0/1, PostgreSQL as false/true.
const bool = (name: string): TableColumnOptions => ({ name, type: 'boolean' });
const key = (name: string): TableColumnOptions => ({ name, type: 'varchar', isPrimary: true });
const serial = (name: string): TableColumnOptions => ({
  name,
  type: 'integer',
  isPrimary: true,
  isGenerated: true,
  generationStrategy: 'increment',
});

const tables: Array<{ table: Table; indices: TableIndex[] }> = [
  {
    table: new Table({
      name: 'psi_invocation',
      columns: [
        key('id'),
        str('instanceId'),
        str('activationId'),
        str('step'),
        str('adapter'),
        str('service'),
        str('correlationKey'),
        str('status'),
        text('lastError', true),
        ms('createdAt'),
        ms('updatedAt'),
      ],
    }),
    indices: [
      new TableIndex({
        name: 'psi_invocation_activation',
        columnNames: ['instanceId', 'activationId'],
        isUnique: true,
      }),
    ],
  },
  {
    table: new Table({
      name: 'psi_expectation',
      columns: [
        key('id'),
        str('invocationId'),
        str('instanceId'),
        str('adapter'),
        str('event'),
        str('waitState'),
        str('correlationKey', true),
        str('businessKey', true),
        str('groupId', true),
        ms('deadline', true),
        str('timeoutTransition', true),
        bool('timeoutPending'),
        ms('parkingTtlMs', true),
        str('status'),
        ms('createdAt'),
        ms('closedAt', true),
      ],
    }),
    indices: [
      new TableIndex({
        name: 'psi_expectation_correlation',
        columnNames: ['correlationKey', 'event'],
      }),
      new TableIndex({ name: 'psi_expectation_business', columnNames: ['businessKey', 'event'] }),
      new TableIndex({
        name: 'psi_expectation_instance',
        columnNames: ['instanceId', 'waitState', 'status'],
      }),
      new TableIndex({ name: 'psi_expectation_deadline', columnNames: ['status', 'deadline'] }),
    ],
  },
  {
    table: new Table({
      name: 'psi_parked_message',
      columns: [
        serial('seq'),
        str('messageId'),
        str('event'),
        str('correlationKey', true),
        str('businessKey', true),
        text('payload', true),
        str('source', true),
        str('expectationId', true),
        str('instanceId', true),
        ms('receivedAt'),
        ms('expiresAt'),
      ],
    }),
    indices: [
      new TableIndex({ name: 'psi_parked_correlation', columnNames: ['correlationKey', 'event'] }),
      new TableIndex({ name: 'psi_parked_business', columnNames: ['businessKey', 'event'] }),
      new TableIndex({ name: 'psi_parked_instance', columnNames: ['instanceId'] }),
      new TableIndex({ name: 'psi_parked_expiry', columnNames: ['expiresAt'] }),
    ],
  },
  {
    table: new Table({
      name: 'psi_dead_letter',
      columns: [
        key('id'),
        str('messageId'),
        str('event'),
        str('correlationKey', true),
        str('businessKey', true),
        text('payload', true),
        str('source', true),
        str('reason'),
        text('detail', true),
        str('instanceId', true),
        str('expectationId', true),
        str('status'),
        ms('receivedAt'),
        ms('createdAt'),
        ms('resolvedAt', true),
      ],
    }),
    indices: [
      new TableIndex({ name: 'psi_dead_letter_status', columnNames: ['status', 'reason'] }),
      new TableIndex({ name: 'psi_dead_letter_instance', columnNames: ['instanceId'] }),
    ],
  },
  {
    table: new Table({
      name: 'psi_inbound_message',
      columns: [key('messageId'), ms('receivedAt'), int('duplicates')],
    }),
    indices: [new TableIndex({ name: 'psi_inbound_received', columnNames: ['receivedAt'] })],
  },
  {
    table: new Table({
      name: 'psi_outbox',
      columns: [
        key('id'),
        str('invocationId'),
        str('service'),
        str('operation'),
        text('payload', true),
        str('correlationKey'),
        str('status'),
        int('attempts'),
        ms('nextAttemptAt'),
        text('lastError', true),
        text('reply', true),
        ms('createdAt'),
        ms('sentAt', true),
      ],
    }),
    indices: [
      new TableIndex({ name: 'psi_outbox_due', columnNames: ['status', 'nextAttemptAt'] }),
      new TableIndex({ name: 'psi_outbox_invocation', columnNames: ['invocationId'] }),
    ],
  },
  {
    table: new Table({
      name: 'psi_audit',
      columns: [
        serial('seq'),
        str('instanceId', true),
        str('invocationId', true),
        str('kind'),
        text('detail', true),
        ms('at'),
      ],
    }),
    indices: [new TableIndex({ name: 'psi_audit_instance', columnNames: ['instanceId', 'seq'] })],
  },
  {
    table: new Table({
      name: 'psi_process_guard',
      columns: [key('id'), str('ownerToken'), str('owner'), ms('startedAt'), ms('expiresAt')],
    }),
    indices: [],
  },
  {
    table: new Table({
      name: 'psi_engine_instance',
      columns: [key('engine'), key('instanceId'), text('state'), ms('updatedAt')],
    }),
    indices: [],
  },
];

/** The first schema: invocations, expectations, parking, dead letters, dedupe, outbox, audit, guards, engine state. */
export class InitialSchema1732000000000 implements MigrationInterface {
  name = 'InitialSchema1732000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const falseDefault = queryRunner.connection.driver.options.type === 'postgres' ? false : 0;
    for (const { table, indices } of tables) {
      for (const column of table.columns) {
        if (column.type === 'boolean') column.default = falseDefault;
      }
      // Indices go on the Table object itself: given only a name, TypeORM reloads the table with
      // overlapping queries on one PostgreSQL client (deprecated in pg). createIndex adds each
      // index to the Table it is given, hence a copy per run.
      const created = table.clone();
      await queryRunner.createTable(created, true);
      for (const index of indices) await queryRunner.createIndex(created, index);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const { table } of [...tables].reverse()) await queryRunner.dropTable(table.name, true);
  }
}
