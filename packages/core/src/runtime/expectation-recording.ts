import type { EntityManager } from 'typeorm';
import { answerKeys, lockAnswerKeys } from '../store/answer-locks';
import { ExpectationEntity } from '../store/entities/expectation.entity';
import { ParkedMessageEntity } from '../store/entities/parked-message.entity';
import { insertRow, updateRows } from '../store/row-statements';

/**
 * Records expectations of one instance and adopts the answers parked for them before they
 * existed (by correlation key or business key, event alike): the adapter's at its first
 * request, a wait state's when the engine reports it entered. The answer keys are locked first,
 * so an answer being parked right now for one of these keys is not missed (store/answer-locks).
 * Resolves with the number of parked answers adopted.
 */
export async function recordExpectations(
  tx: EntityManager,
  instanceId: string,
  expectations: readonly ExpectationEntity[],
): Promise<number> {
  await lockAnswerKeys(
    tx,
    expectations.flatMap((e) => answerKeys(e.event, e.correlationKey, [e.businessKey])),
  );
  let adopted = 0;
  for (const expectation of expectations) {
    await insertRow(tx, ExpectationEntity, expectation);
    // Answers that arrived before this expectation existed now belong to it.
    const unowned = { expectationId: null, event: expectation.event };
    const adopt = { expectationId: expectation.id, instanceId };
    if (expectation.correlationKey) {
      const correlationKey = expectation.correlationKey;
      adopted += await updateRows(tx, ParkedMessageEntity, { ...unowned, correlationKey }, adopt);
    }
    if (expectation.businessKey) {
      const businessKey = expectation.businessKey;
      adopted += await updateRows(tx, ParkedMessageEntity, { ...unowned, businessKey }, adopt);
    }
  }
  return adopted;
}
