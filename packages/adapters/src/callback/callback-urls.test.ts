import { randomBytes } from 'node:crypto';
import {
  PsiErrorCode,
  PsiError,
  type DispatchResult,
  type OutboundRequest,
  type ServiceCoordinates,
  type Transport,
} from '@psi/core';
import { CallbackTokenService } from './callback-token.service';
import { callbackUrlPlaceholder, withCallbackUrls } from './callback-urls';

/** A transport that keeps what it was asked to send. */
class KeepingTransport implements Transport {
  readonly name = 'keeping';
  readonly sent: OutboundRequest[] = [];
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async send(request: OutboundRequest): Promise<DispatchResult> {
    this.sent.push(request);
    return { kind: 'accepted' };
  }
}

const coordinates: ServiceCoordinates = { service: 's', transport: 'keeping', address: 'a' };

describe(withCallbackUrls, () => {
  const tokens = new CallbackTokenService({ keys: [{ id: 'k1', secret: randomBytes(32) }] });
  const placeholder = callbackUrlPlaceholder({
    waitState: 'running',
    events: ['done', 'failed'],
    ttlMs: 60_000,
  });
  const request = (payload: unknown): OutboundRequest => ({
    requestId: 'inv-1:1',
    service: 's',
    operation: 'start',
    payload,
    correlationKey: 'corr-1',
    instanceId: 'i-1',
  });

  it('replaces placeholders, wherever they are, with a callback URL bound to the request', async () => {
    const inner = new KeepingTransport();
    const transport = withCallbackUrls(inner, { tokens, baseUrl: 'https://psi.example/' });

    await transport.send(
      request({ job: 'j', urls: [placeholder], nested: { at: placeholder } }),
      coordinates,
    );

    const sent = inner.sent[0]!.payload as { urls: string[]; nested: { at: string } };
    for (const url of [sent.urls[0]!, sent.nested.at]) {
      expect(url).toMatch(/^https:\/\/psi\.example\/callbacks\/[\w-]+\.k1\.[\w-]+$/);
      expect(tokens.verify(url.split('/callbacks/')[1]!)).toMatchObject({
        instanceId: 'i-1',
        waitState: 'running',
        correlationKey: 'corr-1',
        events: ['done', 'failed'],
      });
    }
    expect(transport.name).toBe('keeping');
  });

  it('passes a request without placeholders through as it is', async () => {
    const inner = new KeepingTransport();
    const original = request({ job: 'j', note: 'psi-callback' });

    await withCallbackUrls(inner, { tokens, baseUrl: 'http://x' }).send(original, coordinates);

    expect(inner.sent[0]).toBe(original);
  });

  it('fails technically (retried) while the base URL is unknown, sending nothing', async () => {
    const inner = new KeepingTransport();
    const transport = withCallbackUrls(inner, { tokens, baseUrl: () => undefined });

    const failure = await transport
      .send(request({ url: placeholder }), coordinates)
      .catch((e: unknown) => e);

    expect(PsiError.is(failure) && failure.code).toBe(PsiErrorCode.TransportTechnical);
    expect(inner.sent).toEqual([]);
  });
});
