import { auditEntries, type TraceEvent } from '../records/audit-log';
import { listAllDeadLetters, type DeadLetter } from '../records/dead-letters';
import { listExpectations, type Expectation } from '../records/expectations';
import { listOutboxEntries, type OutboxEntry } from '../records/outbox';
import { listParkedAnswers, type ParkedAnswer } from '../records/parked-answers';
import { listGuards, type GuardRecord } from '../records/process-guard';
import type { AuditKind } from '../store/entities/audit-entry.entity';
import type { PsiStore } from '../store/psi-store';

/**
 * Reads what a store holds, record by record and column by column, as a test asserts on it: a
 * store a killed process left, one several nodes share, or the store under a running
 * coordinator. Every read goes through core's records layer, so a test spells no table and no
 * SQL. What operators see (views, filters, paging) is the operations API instead
 * (`coordinator.operations`, or `new PsiOperations(store)`).
 *
 * ```ts
 * const inspect = new StoreInspector(store);
 * expect((await inspect.expectations()).map((e) => e.status)).toEqual(['delivered']);
 * expect(await inspect.parked()).toEqual([]);
 * ```
 */
export class StoreInspector {
  constructor(private readonly store: PsiStore) {}

  /** Every expectation (of one instance), in creation order, of any status. */
  expectations(filter: { instanceId?: string } = {}): Promise<Expectation[]> {
    return this.store.read((tx) => listExpectations(tx, filter));
  }

  /** Every outbox entry (of one invocation), in creation order, of any status. */
  outbox(filter: { invocationId?: string } = {}): Promise<OutboxEntry[]> {
    return this.store.read((tx) => listOutboxEntries(tx, filter));
  }

  /** Every parked answer, in arrival order. */
  parked(): Promise<ParkedAnswer[]> {
    return this.store.read((tx) => listParkedAnswers(tx));
  }

  /** Every dead letter, of any status (open, replayed, discarded), in creation order. */
  deadLetters(): Promise<DeadLetter[]> {
    return this.store.read((tx) => listAllDeadLetters(tx));
  }

  /** Every process guard row, held or expired (with its owner token), by id. */
  guards(): Promise<GuardRecord[]> {
    return this.store.read((tx) => listGuards(tx));
  }

  /** The audit entries (of one instance, of one kind), oldest first, details parsed. */
  audit(filter: { instanceId?: string; kind?: AuditKind } = {}): Promise<TraceEvent[]> {
    return this.store.transaction((tx) => auditEntries(tx, filter));
  }
}
