import type { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';

/**
 * Inserts one fully specified row without TypeORM's read-back: `manager.insert` SELECTs every
 * column with a database default after the INSERT (to update the entity), one statement per row
 * on the hot path that tells PSI nothing it did not write itself.
 */
export async function insertRow<Entity extends ObjectLiteral>(
  tx: EntityManager,
  target: EntityTarget<Entity>,
  row: QueryDeepPartialEntity<Entity>,
): Promise<void> {
  await tx.createQueryBuilder().insert().into(target).values(row).updateEntity(false).execute();
}
