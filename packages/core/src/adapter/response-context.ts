/**
 * What a response handler learns about the delivery it runs for: its second argument.
 *
 * Handlers run **at least once**: when the node delivering an answer dies after the claim and
 * before the engine took the signal, recovery runs the handler again (on this or another node)
 * with the same `deliveryId`. A handler with side effects outside the process variables (a row
 * written, a payment made) uses `deliveryId` as their idempotency key.
 *
 * ```ts
 * @OnResponse('paid', { waitState: 'await-payment' })
 * async paid(answer: Payment, delivery: ResponseContext): Promise<string> {
 *   await this.ledger.book(answer, { idempotencyKey: delivery.deliveryId });
 *   return 'paid';
 * }
 * ```
 */
export interface ResponseContext {
  /** One per delivery of one answer to one expectation; the same on every re-run of it. */
  deliveryId: string;
  /** The answer's message id (given by its sender, or derived from its content). */
  messageId: string;
  /** The answer's event. */
  event: string;
  /** The instance the answer is delivered to. */
  instanceId: string;
  /**
   * True when recovery runs the handler again because the node that started this delivery
   * stopped before it finished: the handler may have run before with this `deliveryId`.
   */
  redelivered: boolean;
}
