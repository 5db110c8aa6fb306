import type { EntityTarget, ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { DeadLetterEntity } from '../../store/entities/dead-letter.entity';
import { ExpectationEntity } from '../../store/entities/expectation.entity';
import { InvocationEntity } from '../../store/entities/invocation.entity';
import { OutboxEntryEntity } from '../../store/entities/outbox-entry.entity';
import { ParkedMessageEntity } from '../../store/entities/parked-message.entity';
import { ProcessGuardEntity } from '../../store/entities/process-guard.entity';
import type {
  DeadLetterView,
  ExpectationView,
  GuardView,
  InvocationView,
  ParkedView,
  RecordFilter,
  RecordList,
  RecordView,
} from '../operation-types';
import type { CompiledFilter } from '../record-filter';

// How each record list maps onto its table: keyset key, time column, filter columns, joins and
// the view built from a row (record-queries.ts runs the queries).

type Row = ObjectLiteral;
type Raw = Record<string, unknown>;
type View = RecordView;

export interface ListSpec {
  entity: EntityTarget<Row>;
  alias: string;
  /** Property of the keyset key (ids are time-ordered; parked answers have a sequence). */
  key: string;
  numericKey: boolean;
  /** Property the time window and age apply to. */
  time: string;
  /** Filter field → column, for plain equality. */
  columns: Partial<Record<keyof RecordFilter, string>>;
  /** Joins the views read (and the service filter needs). */
  join(query: SelectQueryBuilder<Row>): void;
  /** Filters that are not plain equality. */
  special?(query: SelectQueryBuilder<Row>, filter: CompiledFilter): void;
  view(row: Row, raw: Raw, now: number): View;
}

const joinExpectationAndInvocation = (alias: string) => (query: SelectQueryBuilder<Row>) => {
  query
    .leftJoin(ExpectationEntity, 'e', `e.id = ${alias}.expectationId`)
    .leftJoin(InvocationEntity, 'i', 'i.id = e.invocationId')
    .addSelect('e.waitState', 'joinedWaitState')
    .addSelect('i.service', 'joinedService');
};

export const str = (value: unknown): string | undefined =>
  value === null || value === undefined ? undefined : String(value);
const json = (text: string | null): unknown =>
  text === null ? undefined : (JSON.parse(text) as unknown);

export const SPECS: Record<RecordList, ListSpec> = {
  expectations: {
    entity: ExpectationEntity,
    alias: 'e',
    key: 'id',
    numericKey: false,
    time: 'createdAt',
    columns: {
      instanceId: 'e.instanceId',
      event: 'e.event',
      correlationKey: 'e.correlationKey',
      status: 'e.status',
      service: 'i.service',
    },
    join(query) {
      query
        .leftJoin(InvocationEntity, 'i', 'i.id = e.invocationId')
        .addSelect('i.service', 'joinedService')
        .addSelect('i.step', 'joinedStep')
        .addSelect(
          (sub) =>
            sub.select('COUNT(1)').from(ParkedMessageEntity, 'pa').where('pa.expectationId = e.id'),
          'parkedAnswers',
        );
    },
    view(row, raw, now): ExpectationView {
      const e = row as ExpectationEntity;
      return {
        id: e.id,
        instanceId: e.instanceId,
        invocationId: e.invocationId,
        adapter: e.adapter,
        service: str(raw.joinedService),
        step: str(raw.joinedStep),
        event: e.event,
        waitState: e.waitState,
        correlationKey: e.correlationKey ?? undefined,
        businessKey: e.businessKey ?? undefined,
        groupId: e.groupId ?? undefined,
        status: e.status,
        deadline: e.deadline ?? undefined,
        timeLeftMs: e.deadline === null ? undefined : e.deadline - now,
        timeoutTransition: e.timeoutTransition ?? undefined,
        parkedAnswers: Number(raw.parkedAnswers ?? 0),
        claimedBy: e.claimedBy ?? undefined,
        claimExpiresAt: e.claimExpiresAt ?? undefined,
        createdAt: e.createdAt,
        closedAt: e.closedAt ?? undefined,
      };
    },
  },
  parked: {
    entity: ParkedMessageEntity,
    alias: 'p',
    key: 'seq',
    numericKey: true,
    time: 'receivedAt',
    columns: {
      instanceId: 'p.instanceId',
      event: 'p.event',
      correlationKey: 'p.correlationKey',
      messageId: 'p.messageId',
      service: 'i.service',
    },
    join: joinExpectationAndInvocation('p'),
    special(query, filter) {
      if (filter.reason === 'no-expectation') query.andWhere('p.expectationId IS NULL');
      if (filter.reason === 'instance-not-ready') query.andWhere('p.expectationId IS NOT NULL');
    },
    view(row, raw, now): ParkedView {
      const p = row as ParkedMessageEntity;
      return {
        id: String(p.seq),
        messageId: p.messageId,
        event: p.event,
        correlationKey: p.correlationKey ?? undefined,
        businessKey: p.businessKey ?? undefined,
        payload: json(p.payload),
        source: p.source ?? undefined,
        reason: p.expectationId === null ? 'no-expectation' : 'instance-not-ready',
        expectationId: p.expectationId ?? undefined,
        instanceId: p.instanceId ?? undefined,
        waitState: str(raw.joinedWaitState),
        service: str(raw.joinedService),
        receivedAt: p.receivedAt,
        expiresAt: p.expiresAt,
        ttlLeftMs: p.expiresAt - now,
      };
    },
  },
  'dead-letters': {
    entity: DeadLetterEntity,
    alias: 'd',
    key: 'id',
    numericKey: false,
    time: 'createdAt',
    columns: {
      instanceId: 'd.instanceId',
      event: 'd.event',
      correlationKey: 'd.correlationKey',
      messageId: 'd.messageId',
      reason: 'd.reason',
      status: 'd.status',
      service: 'i.service',
    },
    join: joinExpectationAndInvocation('d'),
    view(row, raw): DeadLetterView {
      const d = row as DeadLetterEntity;
      return {
        id: d.id,
        messageId: d.messageId,
        event: d.event,
        correlationKey: d.correlationKey ?? undefined,
        businessKey: d.businessKey ?? undefined,
        payload: json(d.payload),
        source: d.source ?? undefined,
        reason: d.reason,
        detail: json(d.detail),
        instanceId: d.instanceId ?? undefined,
        expectationId: d.expectationId ?? undefined,
        waitState: str(raw.joinedWaitState),
        service: str(raw.joinedService),
        status: d.status,
        receivedAt: d.receivedAt,
        createdAt: d.createdAt,
        resolvedAt: d.resolvedAt ?? undefined,
      };
    },
  },
  invocations: {
    entity: InvocationEntity,
    alias: 'i',
    key: 'id',
    numericKey: false,
    time: 'createdAt',
    columns: {
      instanceId: 'i.instanceId',
      service: 'i.service',
      correlationKey: 'i.correlationKey',
      status: 'i.status',
    },
    join(query) {
      query.addSelect(
        (sub) =>
          sub.select('MAX(o.attempts)').from(OutboxEntryEntity, 'o').where('o.invocationId = i.id'),
        'attempts',
      );
    },
    view(row, raw): InvocationView {
      const i = row as InvocationEntity;
      return {
        id: i.id,
        instanceId: i.instanceId,
        activationId: i.activationId,
        step: i.step,
        adapter: i.adapter,
        service: i.service,
        correlationKey: i.correlationKey,
        status: i.status,
        lastError: json(i.lastError),
        attempts: Number(raw.attempts ?? 0),
        leaseOwner: i.leaseOwner ?? undefined,
        leaseExpiresAt: i.leaseExpiresAt ?? undefined,
        createdAt: i.createdAt,
        updatedAt: i.updatedAt,
      };
    },
  },
  guards: {
    entity: ProcessGuardEntity,
    alias: 'g',
    key: 'id',
    numericKey: false,
    time: 'startedAt',
    columns: { guardId: 'g.id', owner: 'g.owner' },
    join() {},
    special(query, filter) {
      if (filter.status === 'held') query.andWhere('g.expiresAt > :gnow', { gnow: filter.now });
      if (filter.status === 'expired') query.andWhere('g.expiresAt <= :gnow', { gnow: filter.now });
    },
    view(row, _raw, now): GuardView {
      const g = row as ProcessGuardEntity;
      return {
        id: g.id,
        owner: g.owner,
        status: g.expiresAt > now ? 'held' : 'expired',
        startedAt: g.startedAt,
        expiresAt: g.expiresAt,
        ttlLeftMs: g.expiresAt - now,
      };
    },
  },
};
