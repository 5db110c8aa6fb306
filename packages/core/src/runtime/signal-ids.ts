/**
 * The ids PSI gives its signals (`SignalOptions.signalId`): one per thing that signals its
 * instance once, so that a repeat after a crash takes no effect on engines that keep them.
 */
export const PsiSignalIds = {
  /**
   * The delivery of the answer an expectation was claimed with; an expectation that `repeats`
   * takes several answers, each its own signal (named by the answer's message id).
   */
  answer: (expectationId: string, messageId?: string): string =>
    messageId === undefined
      ? `psi:answer:${expectationId}`
      : `psi:answer:${expectationId}:${messageId}`,
  /** The timeout transition or fault of an expectation. */
  timeout: (expectationId: string): string => `psi:timeout:${expectationId}`,
  /** The outcome of one entry into a service step. */
  step: (activationId: string): string => `psi:step:${activationId}`,
} as const;
