import type { DispatchResult, OutboundRequest, PsiLogger, ServiceCoordinates } from '@psi/core';

/**
 * The one debug line of a send, for every transport: bound to the request's instance,
 * correlation key and message id (the request id), with where it went, how it ended and how
 * long it took. Nothing is built when debug is off. The coordinator logs the step itself
 * (`invocation sent`, retries); this is the wire's view of it.
 */
export function logSend(
  logger: PsiLogger,
  request: OutboundRequest,
  coordinates: ServiceCoordinates,
  outcome: { result: DispatchResult } | { error: unknown },
  startedAt: number,
): void {
  if (logger.isLevelEnabled && !logger.isLevelEnabled('debug')) return;
  const log = logger.child({
    instanceId: request.instanceId,
    correlationKey: request.correlationKey,
    messageId: request.requestId,
  });
  const fields = {
    service: request.service,
    operation: request.operation,
    address: coordinates.address,
    durationMs: Math.round((performance.now() - startedAt) * 1000) / 1000,
  };
  if ('result' in outcome) {
    log.debug({ ...fields, result: outcome.result.kind }, 'request sent');
  } else {
    const error = outcome.error;
    log.debug(
      {
        ...fields,
        err: error instanceof Error ? { name: error.name, message: error.message } : String(error),
      },
      'request failed',
    );
  }
}
