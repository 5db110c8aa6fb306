/**
 * Issue 16, item 10, on the Kafka mock cluster with a real coordinator, on each store: records on
 * the reply topic that retrying cannot cure (nested too deep, a NUL in a header, an id over the
 * limit, bytes that are not UTF-8) become `rejected` dead letters holding the record as received,
 * and the partition moves on: the valid answer behind each on the same partition is delivered.
 * A store outage is still retried and loses nothing. A plain kafkajs producer plays the sender.
 */
import { KafkaTransport, PsiKafkaHeader, type KafkaErrorContext } from '@psi/adapters/kafka';
import { Input, OnResponse, Output, PsiErrorCode, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsString } from 'class-validator';
import type { Message } from 'kafkajs';
import { describeEachStore, openHarness, useTempDir, type Harness } from '../correlation/fixtures';
import { isPostgresLocation, openTestStore } from '../foundation/test-stores';
import { fastOptions, uniqueName, useMockKafka, waitUntil } from './kafka-test-kit';

jest.setTimeout(90_000);

class Confirmation {
  @IsString() orderNumber!: string;
  @IsString() confirmationId!: string;
}

@ServiceAdapter({ step: 'send-order', service: 'supplier' })
class SendOrderAdapter {
  @Input() @IsString() orderNumber!: string;
  @Output() confirmationId?: string;
  @UseService() supplier!: { place(order: { orderNumber: string }): Promise<void> };

  async callService(): Promise<void> {
    await this.supplier.place({ orderNumber: this.orderNumber });
  }

  @OnResponse('confirmed', {
    waitState: 'await-confirmation',
    payload: Confirmation,
    businessKey: { orderNumber: 'orderNumber' },
  })
  confirmed(answer: Confirmation): string {
    this.confirmationId = answer.confirmationId;
    return 'confirmed';
  }
}

const orderProcess = defineProcess({
  id: 'order',
  start: 'send-order',
  steps: {
    'send-order': { kind: 'service', next: 'await-confirmation' },
    'await-confirmation': { kind: 'wait', transitions: { confirmed: 'done' } },
    done: { kind: 'end' },
  },
});

/** `{ a: { a: … } }`, `depth` objects deep, built without recursion. */
function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

/** The same nesting as JSON text, for depths JSON.stringify cannot write. */
function nestedJson(depth: number): string {
  return `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;
}

/** A valid confirmation of order `n`. */
function answer(n: number): Message {
  return {
    partition: 0,
    value: JSON.stringify({
      event: 'confirmed',
      payload: { orderNumber: `PO-${n}`, confirmationId: `C-${n}` },
    }),
    headers: { [PsiKafkaHeader.MessageId]: `good-${n}` },
  };
}

const confirmedValue = (n: number): string =>
  JSON.stringify({ event: 'confirmed', payload: { orderNumber: `PO-${n}`, confirmationId: 'C' } });

/** Records retrying cannot cure, each with what its dead letter must hold. */
const BAD_RECORDS: Array<{ name: string; record: Message; code: string }> = [
  {
    name: 'a value nested 10,000 deep',
    record: { partition: 0, value: `{"event":"confirmed","payload":${nestedJson(10_000)}}` },
    code: PsiErrorCode.MessageLimitExceeded,
  },
  {
    name: 'a payload field nested 1,500 deep',
    record: {
      partition: 0,
      value: JSON.stringify({
        event: 'confirmed',
        payload: { orderNumber: 'PO-0', confirmationId: 'C', extra: nested(1_500) },
      }),
    },
    code: PsiErrorCode.MessageLimitExceeded,
  },
  {
    name: 'a NUL in x-psi-message-id',
    record: {
      partition: 0,
      value: confirmedValue(0),
      headers: { [PsiKafkaHeader.MessageId]: 'm\u0000x' },
    },
    code: PsiErrorCode.MessageInvalid,
  },
  {
    name: 'a NUL in x-psi-correlation-key',
    record: {
      partition: 0,
      value: confirmedValue(0),
      headers: { [PsiKafkaHeader.CorrelationKey]: 'k\u0000y' },
    },
    code: PsiErrorCode.MessageInvalid,
  },
  {
    name: 'a message id of 3,000 bytes',
    record: {
      partition: 0,
      value: confirmedValue(0),
      headers: { [PsiKafkaHeader.MessageId]: 'i'.repeat(3_000) },
    },
    code: PsiErrorCode.MessageLimitExceeded,
  },
  {
    name: 'bytes that are not UTF-8, and a NUL in the event header',
    record: {
      partition: 0,
      key: Buffer.from([0xc3, 0x28]),
      value: Buffer.from([0xff, 0xfe, 0x00, 0x7b]),
      headers: { [PsiKafkaHeader.Event]: 'confirmed\u0000' },
    },
    code: PsiErrorCode.MessageInvalid,
  },
];

/** What the letter must hold for bytes sent as `sent`. */
function asReceived(sent: Buffer | string | null | undefined): unknown {
  if (sent === null || sent === undefined) return null;
  const bytes = Buffer.from(sent);
  return bytes.toString('utf8') === sent || Buffer.from(bytes.toString('utf8')).equals(bytes)
    ? { utf8: bytes.toString('utf8') }
    : { base64: bytes.toString('base64') };
}

interface LetterRow {
  reason: string;
  messageId: string;
  event: string;
  payload: string;
  detail: string;
}

describeEachStore('Kafka records retrying cannot cure', () => {
  const kafka = useMockKafka();
  const dir = useTempDir('psi-kafka-rejected-');
  let harness: Harness;
  let topic: string;
  let groupId: string;
  let receiveFailures: KafkaErrorContext[];

  beforeEach(async () => {
    topic = uniqueName('psi-replies');
    groupId = uniqueName('psi');
    receiveFailures = [];
    await kafka.probe.ensureTopics([topic]);
    const transport = new KafkaTransport({
      ...fastOptions(kafka.cluster),
      groupId,
      replyTopics: [topic],
      onError: (error, context) => {
        if (process.env.DEBUG_REJECTED) console.log(context, error);
        if (context.kind === 'receive') receiveFailures.push(context);
      },
    });
    harness = await openHarness({
      file: dir.file(),
      definitions: [orderProcess],
      adapters: [SendOrderAdapter],
      services: { supplier: { place: () => undefined } },
      registry: { supplier: { transport: 'in-process', address: 'supplier' } },
      transports: [transport],
    });
    kafka.cleanups.push(() => harness.close());
  });

  async function startOrders(count: number): Promise<void> {
    for (let n = 1; n <= count; n++) {
      await harness.engine.start('order', { orderNumber: `PO-${n}` }, { instanceId: `order-${n}` });
      await harness.atStep(`order-${n}`, 'await-confirmation');
    }
  }

  /** Counted through the coordinator while records flow (no raw query beside its batches). */
  async function rejectedLetters(): Promise<number> {
    return (await harness.coordinator.deadLetters.list({ reason: 'rejected' })).length;
  }

  /** The rows, once nothing flows any more. */
  async function letters(): Promise<LetterRow[]> {
    return harness.query<LetterRow>(
      'SELECT reason, "messageId", event, payload, detail FROM psi_dead_letter ORDER BY "createdAt", id',
    );
  }

  it('keeps each as a `rejected` dead letter holding the record as received, and delivers the answer behind it on the same partition', async () => {
    await startOrders(BAD_RECORDS.length);
    const records = BAD_RECORDS.flatMap((bad, i) => [bad.record, answer(i + 1)]);

    await kafka.probe.produce(topic, records);

    for (let n = 1; n <= BAD_RECORDS.length; n++) {
      expect((await harness.engine.whenEnded(`order-${n}`)).variables.confirmationId).toBe(
        `C-${n}`,
      );
    }
    await waitUntil(
      async () => (await rejectedLetters()) === BAD_RECORDS.length,
      'every bad record is a dead letter',
    );
    await waitUntil(
      async () => (await kafka.probe.committedOffsets(groupId, topic)).get(0) === records.length,
      'the partition is committed past every record',
    );
    const kept = await letters();
    const offsets = new Set<string>();
    BAD_RECORDS.forEach((bad, i) => {
      const letter = kept[i]!;
      const raw = JSON.parse(letter.payload) as Record<string, unknown>;
      expect({ name: bad.name, reason: letter.reason }).toEqual({
        name: bad.name,
        reason: 'rejected',
      });
      expect(raw).toMatchObject({
        topic,
        partition: 0,
        value: asReceived(bad.record.value),
        key: asReceived(bad.record.key),
        headers: Object.fromEntries(
          Object.entries(bad.record.headers ?? {}).map(([k, v]) => [k, asReceived(v as string)]),
        ),
      });
      expect(letter.messageId).toBe(`${topic}:0:${String(raw.offset)}`);
      expect(JSON.parse(letter.detail)).toMatchObject({ error: { code: bad.code } });
      offsets.add(String(raw.offset));
    });
    expect(offsets.size).toBe(BAD_RECORDS.length);
    expect(receiveFailures).toEqual([]);
    expect(harness.problems).toEqual([]);
  });

  it('retries a store outage and loses nothing: the bad record is kept once, the answer delivered', async () => {
    await startOrders(1);
    const tables = ['psi_inbound_message', 'psi_dead_letter'];
    await renameTables(harness.file, tables, (table) => `${table}_away`);

    await kafka.probe.produce(topic, [BAD_RECORDS[2]!.record, answer(1)]);
    await waitUntil(() => receiveFailures.length >= 4, 'both records failed twice (store down)');
    expect((await harness.engine.getInstance('order-1')).currentStep).toBe('await-confirmation');
    await renameTables(
      harness.file,
      tables.map((table) => `${table}_away`),
      (table) => table.replace(/_away$/, ''),
    );

    expect((await harness.engine.whenEnded('order-1')).variables.confirmationId).toBe('C-1');
    await waitUntil(async () => (await rejectedLetters()) === 1, 'the bad record is kept');
    await waitUntil(
      async () => (await kafka.probe.committedOffsets(groupId, topic)).get(0) === 2,
      'the partition is committed past both records',
    );
    expect((await letters()).map((l) => l.reason)).toEqual(['rejected']);
  });
});

/**
 * Renames tables through a store of its own (another connection than the harness's), so the
 * harness's statements fail until they are renamed back: an outage of part of the store.
 */
async function renameTables(
  location: string,
  tables: string[],
  to: (table: string) => string,
): Promise<void> {
  const store = await openTestStore(location, {
    migrate: false,
    ...(isPostgresLocation(location) ? { poolSize: 1 } : {}),
  });
  try {
    for (const table of tables) {
      // Raw SQL on purpose: renaming tables is the outage this test makes; no PSI step does it.
      await store.dataSource.query(`ALTER TABLE "${table}" RENAME TO "${to(table)}"`);
    }
  } finally {
    await store.close();
  }
}
