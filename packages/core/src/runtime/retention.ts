import type { EntityManager } from 'typeorm';
import { AuditEntryEntity } from '../store/entities/audit-entry.entity';
import { DeadLetterEntity } from '../store/entities/dead-letter.entity';
import { InboundMessageEntity } from '../store/entities/inbound-message.entity';
import type { PsiStore } from '../store/psi-store';
import type { CompiledRetention } from './retention-options';
import { unrefTimer, type PsiClock } from './psi-clock';

/** What one sweep deleted. */
export interface RetentionReport {
  resolvedDeadLetters: number;
  openDeadLetters: number;
  auditEntries: number;
  dedupeIds: number;
}

/**
 * Deletes dead letters, audit entries and dedupe ids past their retention, a batch per
 * transaction. Every node may sweep: deleting what another node deleted deletes nothing.
 */
export class RetentionSweeper {
  private timer: unknown;

  constructor(
    private readonly store: PsiStore,
    private readonly retention: CompiledRetention,
    private readonly clock: () => number,
    private readonly timers: PsiClock,
  ) {}

  /** Sweeps every `intervalMs` through `run` (which reports failures); the first sweep now. */
  start(run: (sweep: () => Promise<RetentionReport>) => void): void {
    const tick = (): void => {
      run(() => this.sweep());
      this.timer = this.timers.setTimeout(tick, this.retention.intervalMs);
      unrefTimer(this.timer);
    };
    tick();
  }

  stop(): void {
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  async sweep(): Promise<RetentionReport> {
    const now = this.clock();
    const { resolvedDeadLettersMs, openDeadLettersMs, auditMs, dedupeIdsMs } = this.retention;
    return {
      resolvedDeadLetters:
        resolvedDeadLettersMs === null
          ? 0
          : await this.deleteOlder(DeadLetterEntity, 'resolvedAt', now - resolvedDeadLettersMs),
      openDeadLetters:
        openDeadLettersMs === null
          ? 0
          : await this.deleteOlder(DeadLetterEntity, 'createdAt', now - openDeadLettersMs, {
              status: 'open',
            }),
      auditEntries: auditMs === null ? 0 : await this.deleteOldAudit(now - auditMs),
      dedupeIds:
        dedupeIdsMs === null
          ? 0
          : await this.deleteOlder(InboundMessageEntity, 'receivedAt', now - dedupeIdsMs),
    };
  }

  /**
   * Deletes rows whose `column` (epoch ms) is before `cutoff`, oldest first: each batch finds the
   * `batchSize`-th oldest time and deletes up to it, so no primary key is needed (any table).
   */
  private async deleteOlder(
    entity: typeof DeadLetterEntity | typeof InboundMessageEntity,
    column: string,
    cutoff: number,
    where: { status?: string } = {},
  ): Promise<number> {
    let deleted = 0;
    for (;;) {
      const batch = await this.store.transaction(async (tx) => {
        const bound = await this.batchBound(tx, entity, column, cutoff, where.status);
        const query = tx
          .createQueryBuilder()
          .delete()
          .from(entity)
          .where(`"${column}" < :cutoff`, { cutoff });
        if (bound !== undefined) query.andWhere(`"${column}" <= :bound`, { bound });
        if (where.status) query.andWhere('"status" = :status', { status: where.status });
        return { affected: (await query.execute()).affected ?? 0, full: bound !== undefined };
      });
      deleted += batch.affected;
      if (!batch.full) return deleted;
    }
  }

  /** The time of the `batchSize`-th oldest row before `cutoff`; undefined when there are fewer. */
  private async batchBound(
    tx: EntityManager,
    entity: typeof DeadLetterEntity | typeof InboundMessageEntity,
    column: string,
    cutoff: number,
    status: string | undefined,
  ): Promise<number | undefined> {
    const query = tx
      .createQueryBuilder(entity, 'r')
      .select(`r.${column}`, 'at')
      .where(`r.${column} < :cutoff`, { cutoff })
      .orderBy(`r.${column}`, 'ASC')
      .offset(this.retention.batchSize - 1)
      .limit(1);
    if (status) query.andWhere('r.status = :status', { status });
    const row = await query.getRawOne<{ at: string | number }>();
    return row === undefined ? undefined : Number(row.at);
  }

  /**
   * Audit entries are read in `seq` order (their primary key, which follows time), a batch at a
   * time: the sweep stops at the first entry inside the retention, so it never scans the table.
   */
  private async deleteOldAudit(cutoff: number): Promise<number> {
    let deleted = 0;
    for (;;) {
      const batch = await this.store.transaction(async (tx) => {
        const oldest = await tx.find(AuditEntryEntity, {
          select: { seq: true, at: true },
          order: { seq: 'ASC' },
          take: this.retention.batchSize,
        });
        const expired = oldest.filter((entry) => entry.at < cutoff);
        if (expired.length > 0) {
          await tx.delete(
            AuditEntryEntity,
            expired.map((entry) => entry.seq),
          );
        }
        return {
          affected: expired.length,
          more: expired.length === oldest.length && oldest.length === this.retention.batchSize,
        };
      });
      deleted += batch.affected;
      if (!batch.more) return deleted;
    }
  }
}
