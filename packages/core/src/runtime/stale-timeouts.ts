import type { EntityManager } from 'typeorm';
import type { Expectation } from '../records/expectations';
import { InvocationEntity } from '../store/entities/invocation.entity';
import { findRow } from '../store/row-statements';

/**
 * The pending timeouts (won, not yet signalled) whose step the instance has entered again
 * since. A timeout is signalled first and recorded after, so a crash between the two leaves it
 * pending although the engine took it; once the instance comes round to the same step and wait
 * state, signalling it would time out the later visit. A later invocation of the same step
 * shows the instance left the visit the timeout was for.
 *
 * The fallback for engines without signal ids: one that has `hasAppliedSignal` is asked instead,
 * which also covers an instance that reached the same wait state through a different step.
 */
export async function timeoutsOfEarlierVisits(
  tx: EntityManager,
  pending: readonly Expectation[],
): Promise<Set<string>> {
  const stale = new Set<string>();
  for (const expectation of pending) {
    const own = await findRow(tx, InvocationEntity, { id: expectation.invocationId });
    if (!own) continue;
    const later = await tx
      .createQueryBuilder(InvocationEntity, 'i')
      .where('i.instanceId = :instanceId AND i.step = :step AND i.id <> :id', {
        instanceId: own.instanceId,
        step: own.step,
        id: own.id,
      })
      // Ids increase with creation in a process: they order invocations of one millisecond.
      .andWhere('(i.createdAt > :at OR (i.createdAt = :at AND i.id > :id))', { at: own.createdAt })
      .getCount();
    if (later > 0) stale.add(expectation.id);
  }
  return stale;
}
