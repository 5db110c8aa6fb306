import type { EntityManager } from 'typeorm';
import { deleteAuditBatchBefore } from '../records/audit-log';
import { deleteOpenLettersBefore, deleteResolvedLettersBefore } from '../records/dead-letters';
import { deleteInboundIdsBefore } from '../records/inbound-ids';
import type { DeletedBatch } from '../store/batch-delete';
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
    const { resolvedDeadLettersMs, openDeadLettersMs, auditMs, dedupeIdsMs, batchSize } =
      this.retention;
    return {
      resolvedDeadLetters:
        resolvedDeadLettersMs === null
          ? 0
          : await this.deleteInBatches((tx) =>
              deleteResolvedLettersBefore(tx, now - resolvedDeadLettersMs, batchSize),
            ),
      openDeadLetters:
        openDeadLettersMs === null
          ? 0
          : await this.deleteInBatches((tx) =>
              deleteOpenLettersBefore(tx, now - openDeadLettersMs, batchSize),
            ),
      auditEntries:
        auditMs === null
          ? 0
          : await this.deleteInBatches((tx) =>
              deleteAuditBatchBefore(tx, now - auditMs, batchSize),
            ),
      dedupeIds:
        dedupeIdsMs === null
          ? 0
          : await this.deleteInBatches((tx) =>
              deleteInboundIdsBefore(tx, now - dedupeIdsMs, batchSize),
            ),
    };
  }

  /** Runs a record's retention step, a batch per transaction, until a batch is not full. */
  private async deleteInBatches(
    batch: (tx: EntityManager) => Promise<DeletedBatch>,
  ): Promise<number> {
    let deleted = 0;
    for (;;) {
      const { affected, full } = await this.store.transaction(batch);
      deleted += affected;
      if (!full) return deleted;
    }
  }
}
