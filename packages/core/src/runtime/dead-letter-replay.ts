import type { ReceiveOutcome } from '../spi/transport';
import type { PsiStore } from '../store/psi-store';
import type { Correlator } from './correlator';
import type { DeadLetter, DeadLetterQueue } from './dead-letter-queue';

/**
 * What a replay did to a dead letter: the outcome of correlating it again (`replayOf` names the
 * letter). A letter replayed before answers with what that replay became and `repeated: true`;
 * a discarded one with `status: 'discarded'`.
 */
export type ReplayOutcome =
  | (ReceiveOutcome & { replayOf: string; repeated?: true })
  | { status: 'discarded'; replayOf: string };

/** The message id a replay of `letter` is received under: one per letter, so dedupe sees repeats. */
function replayMessageId(letter: DeadLetter): string {
  return `${letter.messageId}#replay-${letter.id}`;
}

/**
 * Correlates a dead letter again, then records what that became on the letter. Received first
 * and resolved after, so a crash in between leaves the letter open (a second replay is told
 * `duplicate` by dedupe instead of delivering twice) rather than resolved and never received.
 */
export async function replayDeadLetter(
  deps: { store: PsiStore; deadLetters: DeadLetterQueue; correlator: Correlator },
  id: string,
): Promise<ReplayOutcome> {
  const letter = await deps.deadLetters.get(id);
  if (letter.status !== 'open') return earlier(letter);
  const outcome = await deps.correlator.receive({
    messageId: replayMessageId(letter),
    sender: 'psi:replay',
    event: letter.event,
    correlationKey: letter.correlationKey,
    businessKey: letter.businessKey
      ? Object.fromEntries(JSON.parse(letter.businessKey) as Array<[string, string]>)
      : undefined,
    payload: letter.payload,
    source: `replay:${letter.source ?? 'unknown'}`,
  });
  const recorded = await deps.store.transaction((tx) =>
    deps.deadLetters.resolve(tx, id, 'replayed', outcome),
  );
  // Replayed or discarded meanwhile by another call: report what that did.
  if (!recorded) return earlier(await deps.deadLetters.get(id), outcome);
  return { ...outcome, replayOf: id };
}

function earlier(letter: DeadLetter, fallback?: ReceiveOutcome): ReplayOutcome {
  if (letter.status === 'discarded') return { status: 'discarded', replayOf: letter.id };
  const outcome = letter.replayOutcome ?? fallback ?? { status: 'duplicate' };
  return { ...outcome, replayOf: letter.id, repeated: true };
}
