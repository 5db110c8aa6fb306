import type { EntityManager } from 'typeorm';
import { answerKeys, lockAnswerKeys } from '../store/answer-locks';
import { addExpectation, type Expectation } from '../records/expectations';
import { adoptParkedAnswers } from '../records/parked-answers';

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
  expectations: readonly Expectation[],
): Promise<number> {
  await lockAnswerKeys(
    tx,
    expectations.flatMap((e) => answerKeys(e.event, e.correlationKey, [e.businessKey])),
  );
  let adopted = 0;
  for (const expectation of expectations) {
    await addExpectation(tx, expectation);
    // Answers that arrived before this expectation existed now belong to it: one that repeats
    // takes every one; any other the earliest only, so later ones stay parked, in arrival order,
    // for the next expectation (a second catch of the same event, say).
    adopted += await adoptParkedAnswers(
      tx,
      instanceId,
      expectation,
      expectation.repeats ? 'all' : 'earliest',
    );
  }
  return adopted;
}
