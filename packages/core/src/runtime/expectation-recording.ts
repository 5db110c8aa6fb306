import type { EntityManager } from 'typeorm';
import { answerKeys, lockAnswerKeys } from '../store/answer-locks';
import { addExpectation, type Expectation } from '../records/expectations';
import { ParkedMessageEntity } from '../store/entities/parked-message.entity';

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
    adopted += await adopt(tx, instanceId, expectation, expectation.repeats ? 'all' : 'earliest');
  }
  return adopted;
}

/**
 * Gives `expectation` the parked answers nobody owns yet that match it (all, or the earliest),
 * in one UPDATE: its row locks serialise it with a release or an expiry of the same rows.
 */
async function adopt(
  tx: EntityManager,
  instanceId: string,
  expectation: Expectation,
  which: 'all' | 'earliest',
): Promise<number> {
  const keys: string[] = [];
  if (expectation.correlationKey !== null) keys.push('p."correlationKey" = :correlationKey');
  if (expectation.businessKey !== null) keys.push('p."businessKey" = :businessKey');
  if (keys.length === 0) return 0;
  const matching = `p."expectationId" IS NULL AND p.event = :event AND (${keys.join(' OR ')})`;
  const result = await tx
    .createQueryBuilder()
    .update(ParkedMessageEntity)
    .set({ expectationId: expectation.id, instanceId })
    .where(
      which === 'earliest'
        ? `seq = (SELECT MIN(p.seq) FROM psi_parked_message p WHERE ${matching})`
        : `seq IN (SELECT p.seq FROM psi_parked_message p WHERE ${matching})`,
      {
        event: expectation.event,
        correlationKey: expectation.correlationKey,
        businessKey: expectation.businessKey,
      },
    )
    .andWhere('"expectationId" IS NULL')
    .execute();
  return result.affected ?? 0;
}
