import { CallbackBindingError } from '../errors';
import type { AnswerBinding } from '../spi/transport';
import type { Expectation } from '../records/expectations';

/**
 * The expectations a bound answer (a callback token's) may reach among those its correlation key
 * found for its event: only its instance at its wait state. None there refuses the answer
 * (CallbackBindingError): a token never reaches another instance or wait state, and is never
 * parked for an expectation that cannot come (an invocation records all its expectations before
 * its first request leaves, so before any token for it exists).
 */
export function boundExpectations(found: Expectation[], bound: AnswerBinding): Expectation[] {
  const reachable = found.filter(
    (e) => e.instanceId === bound.instanceId && e.waitState === bound.waitState,
  );
  if (reachable.length === 0) throw new CallbackBindingError();
  return reachable;
}
