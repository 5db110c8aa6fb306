import type { EntityManager } from 'typeorm';
import type { Expectation } from '../records/expectations';
import { invocationById, invokedAgainSince } from '../records/invocations';

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
    const own = await invocationById(tx, expectation.invocationId);
    if (own && (await invokedAgainSince(tx, own))) stale.add(expectation.id);
  }
  return stale;
}
