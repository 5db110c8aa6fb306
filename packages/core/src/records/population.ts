import type { EntityManager } from 'typeorm';
import { DeadLetterEntity } from '../store/entities/dead-letter.entity';
import { ExpectationEntity } from '../store/entities/expectation.entity';
import { InvocationEntity } from '../store/entities/invocation.entity';
import { ParkedMessageEntity } from '../store/entities/parked-message.entity';
import { ProcessGuardEntity } from '../store/entities/process-guard.entity';

/** What waits and what is stuck, store-wide (every node reads the same). */
export interface Population {
  openExpectations: number;
  /** Parked answers still inside their TTL (past it, the scheduler makes them dead letters). */
  parkedAnswers: number;
  /** Epoch ms of the oldest parked answer's arrival; null when none is parked. */
  oldestParkedAt: number | null;
  openDeadLetters: Map<string, number>;
  frozenInvocations: number;
  heldGuards: number;
}

/**
 * The counts the store gauges observe: one statement each, each read from an index that holds
 * only what it counts or bounds it by a condition (open expectations: the partial index
 * `psi_expectation_open`; parked answers: `psi_parked_expiry` past now and `psi_parked_received`
 * for the oldest; dead letters: `psi_dead_letter_status`; frozen invocations: the status of
 * `psi_invocation_lease`; guards: `psi_process_guard_expiry`). The predicates are literals,
 * so SQLite's and PostgreSQL's generic plans use the partial index.
 */
export async function readPopulation(tx: EntityManager, now: number): Promise<Population> {
  const count = (row: { n: string | number } | undefined): number => Number(row?.n ?? 0);
  const open = await tx
    .createQueryBuilder(ExpectationEntity, 'e')
    .select('COUNT(*)', 'n')
    .where(`e.status = 'open'`)
    .getRawOne<{ n: string }>();
  const parked = await tx
    .createQueryBuilder(ParkedMessageEntity, 'p')
    .select('COUNT(*)', 'n')
    .where('p.expiresAt > :now', { now })
    .getRawOne<{ n: string }>();
  const oldest = await tx
    .createQueryBuilder(ParkedMessageEntity, 'p')
    .select('MIN(p.receivedAt)', 'at')
    .getRawOne<{ at: string | number | null }>();
  const letters = await tx
    .createQueryBuilder(DeadLetterEntity, 'd')
    .select('d.reason', 'reason')
    .addSelect('COUNT(*)', 'n')
    .where(`d.status = 'open'`)
    .groupBy('d.reason')
    .getRawMany<{ reason: string; n: string }>();
  const frozen = await tx
    .createQueryBuilder(InvocationEntity, 'i')
    .select('COUNT(*)', 'n')
    .where(`i.status = 'frozen'`)
    .getRawOne<{ n: string }>();
  const guards = await tx
    .createQueryBuilder(ProcessGuardEntity, 'g')
    .select('COUNT(*)', 'n')
    .where('g.expiresAt > :now', { now })
    .getRawOne<{ n: string }>();
  return {
    openExpectations: count(open),
    parkedAnswers: count(parked),
    oldestParkedAt: oldest?.at === null || oldest?.at === undefined ? null : Number(oldest.at),
    openDeadLetters: new Map(letters.map((row) => [row.reason, Number(row.n)])),
    frozenInvocations: count(frozen),
    heldGuards: count(guards),
  };
}
