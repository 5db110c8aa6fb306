import { PsiError, PsiErrorCode } from '../errors';
import type { ProcessEngine, SignalOptions } from '../spi/process-engine';
import { recordedOutcome } from '../records/audit-log';
import type { Invocation } from '../records/invocations';
import type { PsiStore } from '../store/psi-store';
import { PsiSignalIds } from '../runtime/signal-ids';

interface OutcomeDetail {
  transition?: string;
  variables?: Record<string, unknown>;
  businessError?: { code?: string; message?: string };
  error?: { code?: string; message?: string };
}

/**
 * Signals a service step again with the outcome PSI recorded for it. Needed when a node died
 * after committing an invocation's outcome (`completed`, `failed`) and before the engine took the
 * signal: the engine still rests at that step activation and says so again (a re-emitted
 * `service-step-entered`, e.g. from `restore()` on another node). The outcome is read back from
 * the audit entry written in the same transaction as the status, so nothing runs twice.
 */
export async function resignalFinishedStep(
  deps: { store: PsiStore; engine: ProcessEngine },
  invocation: Invocation,
): Promise<boolean> {
  const entry = await deps.store.transaction((tx) => recordedOutcome(tx, invocation));
  if (!entry) return false;
  const detail = (entry.detail ?? {}) as OutcomeDetail;
  const error = entry.kind === 'failed' ? detail.error : detail.businessError;
  const options: SignalOptions =
    error && !detail.transition
      ? {
          fault: {
            code: error.code ?? 'PSI_ADAPTER_FAILED',
            message: error.message ?? 'the adapter failed',
          },
        }
      : { variables: detail.variables, transition: detail.transition };
  // The same id as the first signal: an engine that took it before the crash ignores this one.
  options.signalId = PsiSignalIds.step(invocation.activationId);
  options.activationId = invocation.activationId;
  try {
    await deps.engine.signal(invocation.instanceId, invocation.step, options);
    return true;
  } catch (failure) {
    // Moved on meanwhile (the node that recorded the outcome signalled after all).
    if (PsiError.is(failure) && failure.code === PsiErrorCode.EngineSignalRejected) return false;
    throw failure;
  }
}
