import type { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';

/** What one batch deleted, and whether it was full (more may be past the cutoff). */
export interface DeletedBatch {
  affected: number;
  full: boolean;
}

/**
 * Deletes one batch of the rows whose `column` (epoch ms) is before `cutoff`, oldest first: it
 * finds the `batchSize`-th oldest time and deletes up to it, so no primary key is needed (any
 * table). The records' retention steps run it on their own tables.
 */
export async function deleteBatchBefore<Entity extends ObjectLiteral>(
  tx: EntityManager,
  entity: EntityTarget<Entity>,
  column: string,
  cutoff: number,
  batchSize: number,
  status?: string,
): Promise<DeletedBatch> {
  const bound = await batchBound(tx, entity, column, cutoff, batchSize, status);
  const query = tx
    .createQueryBuilder()
    .delete()
    .from(entity)
    .where(`"${column}" < :cutoff`, { cutoff });
  if (bound !== undefined) query.andWhere(`"${column}" <= :bound`, { bound });
  if (status) query.andWhere('"status" = :status', { status });
  return { affected: (await query.execute()).affected ?? 0, full: bound !== undefined };
}

/** The time of the `batchSize`-th oldest row before `cutoff`; undefined when there are fewer. */
async function batchBound<Entity extends ObjectLiteral>(
  tx: EntityManager,
  entity: EntityTarget<Entity>,
  column: string,
  cutoff: number,
  batchSize: number,
  status: string | undefined,
): Promise<number | undefined> {
  const query = tx
    .createQueryBuilder(entity, 'r')
    .select(`r.${column}`, 'at')
    .where(`r.${column} < :cutoff`, { cutoff })
    .orderBy(`r.${column}`, 'ASC')
    .offset(batchSize - 1)
    .limit(1);
  if (status) query.andWhere('r.status = :status', { status });
  const row = await query.getRawOne<{ at: string | number }>();
  return row === undefined ? undefined : Number(row.at);
}
