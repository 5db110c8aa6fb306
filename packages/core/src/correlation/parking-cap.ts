import type { EntityManager } from 'typeorm';
import { ParkedMessageEntity } from '../store/entities/parked-message.entity';
import type { ReceivedMessage } from './received-message';

/**
 * Whether `cap` answers are parked already under the key `message` would be parked under: its
 * event with its correlation key, else with its business key, else with neither. Reads at most
 * `cap` index entries. Parking runs under the lock on the answer's keys (`answer-locks.ts`), so
 * two answers for one key cannot both take the last place.
 */
export async function parkingFull(
  tx: EntityManager,
  message: ReceivedMessage,
  cap: number,
): Promise<boolean> {
  const query = tx
    .createQueryBuilder(ParkedMessageEntity, 'p')
    .select('p.seq', 'seq')
    .where('p.event = :event', { event: message.event });
  const businessKey = message.businessKeys[0];
  if (message.correlationKey !== null) {
    query.andWhere('p.correlationKey = :correlationKey', {
      correlationKey: message.correlationKey,
    });
  } else if (businessKey !== undefined) {
    query
      .andWhere('p.correlationKey IS NULL')
      .andWhere('p.businessKey = :businessKey', { businessKey });
  } else {
    query.andWhere('p.correlationKey IS NULL').andWhere('p.businessKey IS NULL');
  }
  const parked = await query.limit(cap).getRawMany();
  return parked.length >= cap;
}
