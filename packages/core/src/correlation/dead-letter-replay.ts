import type { ReceiveOutcome } from '../spi/transport';
import type { DeadLetter } from '../records/dead-letters';

/**
 * What a replay did to a dead letter: the outcome of correlating it again (`replayOf` names the
 * letter). A letter replayed before answers with what that replay became and `repeated: true`;
 * a discarded one with `status: 'discarded'`.
 */
export type ReplayOutcome =
  | (ReceiveOutcome & { replayOf: string; repeated?: true })
  | { status: 'discarded'; replayOf: string };

/** The message id a replay of `letter` is received under: one per letter, so dedupe sees repeats. */
export function replayMessageId(letter: Pick<DeadLetter, 'id' | 'messageId'>): string {
  return `${letter.messageId}#replay-${letter.id}`;
}

/** What an earlier replay of `letter` became (or that it was discarded). */
export function replayReport(letter: DeadLetter, fallback?: ReceiveOutcome): ReplayOutcome {
  if (letter.status === 'discarded') return { status: 'discarded', replayOf: letter.id };
  const outcome = letter.replayOutcome ?? fallback ?? { status: 'duplicate' };
  return { ...outcome, replayOf: letter.id, repeated: true };
}
