import type { EntityManager } from 'typeorm';
import { parkedUnderKeyReach } from '../records/parked-answers';
import type { ReceivedMessage } from './received-message';

/**
 * Whether `cap` answers are parked already under the key `message` would be parked under: its
 * event with its correlation key, else with its business key, else with neither. Reads at most
 * `cap` index entries. Parking runs under the lock on the answer's keys (`answer-locks.ts`), so
 * two answers for one key cannot both take the last place.
 */
export function parkingFull(
  tx: EntityManager,
  message: ReceivedMessage,
  cap: number,
): Promise<boolean> {
  return parkedUnderKeyReach(
    tx,
    {
      event: message.event,
      correlationKey: message.correlationKey,
      businessKey: message.businessKeys[0] ?? null,
    },
    cap,
  );
}
