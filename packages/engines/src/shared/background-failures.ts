import { psiLogger, type PsiLoggerOption } from '@psi/core';

/**
 * Where an engine plugin reports failures of background work (listeners, timers, restore):
 * `onError` when given, else the `logger` at error, bound to the plugin's name.
 */
export function backgroundFailures(
  plugin: string,
  options: { onError?: (error: unknown) => void; logger?: PsiLoggerOption },
): (error: unknown) => void {
  if (options.onError) return options.onError;
  const log = psiLogger(options.logger).child({ engine: plugin });
  return (error) => log.error({ err: error }, `${plugin}: background failure`);
}
