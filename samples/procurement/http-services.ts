import { PsiHttpHeader } from '@psi/adapters';
import Fastify, { type FastifyRequest } from 'fastify';
import type { PurchaseOrder } from './contracts';
import { confirmationFor, createErpBook, ORDER_CONFIRMED } from './services';

/** The supplier and the ERP as HTTP services, listening on loopback. */
export interface HttpServices {
  /** Base URL, e.g. `http://127.0.0.1:41234`; the supplier is at `/supplier`, the ERP at `/erp`. */
  url: string;
  /** Waits for confirmations still being sent, then stops listening. */
  close(): Promise<void>;
}

/**
 * A supplier and an ERP speaking PSI's HTTP conventions, as real services would:
 * - `POST /supplier/placeOrder` answers 202 at once and, a moment later, POSTs the confirmation
 *   to the request's `x-psi-reply-to` address carrying its `x-psi-correlation-key`, with the
 *   bearer token PSI's inbound server gave it (`Authorization: Bearer <psiBearerToken>`);
 * - `POST /erp/insertOrder` answers 200 with the document number (a synchronous reply).
 * Failures to deliver a confirmation go to `onError` (a real supplier would retry).
 */
export async function startHttpServices(
  psiBearerToken: string,
  onError: (error: unknown) => void = (error) => console.error('supplier could not answer', error),
): Promise<HttpServices> {
  const app = Fastify({ logger: false });
  const confirming = new Set<Promise<void>>();
  const book = createErpBook();

  app.post('/supplier/placeOrder', async (request, reply) => {
    const order = (request.body as { payload?: PurchaseOrder }).payload;
    const replyTo = header(request, PsiHttpHeader.ReplyTo);
    if (!order || !replyTo) {
      return reply.code(400).send({
        code: 'SUPPLIER_REQUEST_INVALID',
        message: 'placeOrder needs a JSON body { payload: order } and an x-psi-reply-to header.',
      });
    }
    const answer = {
      event: ORDER_CONFIRMED,
      payload: confirmationFor(order),
      correlationKey: header(request, PsiHttpHeader.CorrelationKey),
      messageId: `${header(request, PsiHttpHeader.MessageId) ?? order.orderNumber}:${ORDER_CONFIRMED}`,
    };
    const sending = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => deliver(replyTo, psiBearerToken, answer))
      .catch(onError)
      .finally(() => confirming.delete(sending));
    confirming.add(sending);
    return reply.code(202).send({ accepted: true });
  });

  app.post('/erp/insertOrder', async () => book());

  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    async close() {
      await Promise.allSettled([...confirming]);
      await app.close();
    },
  };
}

/** POSTs an answer to PSI's inbound server, which says 202 once it is delivered or parked. */
async function deliver(
  replyTo: string,
  bearerToken: string,
  answer: Record<string, unknown>,
): Promise<void> {
  const response = await fetch(replyTo, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bearerToken}` },
    body: JSON.stringify(answer),
  });
  const body = await response.text();
  if (response.status !== 202) {
    throw new Error(`PSI refused the confirmation with HTTP ${response.status}: ${body}`);
  }
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}
