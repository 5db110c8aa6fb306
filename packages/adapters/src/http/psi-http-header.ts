/** Request headers PSI sets on every HTTP dispatch, and reads on inbound messages. */
export const PsiHttpHeader = {
  /** The invocation's correlation key; an asynchronous answer carries it back. */
  CorrelationKey: 'x-psi-correlation-key',
  /** Unique and stable across re-sends (the request id): receivers dedupe on it. */
  MessageId: 'x-psi-message-id',
  /** Where asynchronous answers go, e.g. `http://psi.local/messages`. */
  ReplyTo: 'x-psi-reply-to',
  /** The operation called, also in the JSON body. */
  Operation: 'x-psi-operation',
} as const;
