/**
 * `@psi/adapters`: the transports PSI dispatches through and receives answers from.
 *
 * - `InProcessTransport`: services in the same process (tests, modular monoliths).
 * - `HttpTransport` and `HttpInboundServer`: requests over HTTP; answers come back to the inbound
 *   server (`/messages`, `/callbacks/:token`, `/signal`) with bearer or callback-token auth,
 *   limits and typed errors.
 * - Kafka: its own entry point, `@psi/adapters/kafka` (kafkajs, an optional peer dependency).
 * - `@psi/adapters/testing`: the transport conformance suite and librdkafka's mock cluster.
 *
 * @example
 * ```ts
 * import { HttpInboundServer, HttpTransport } from '@psi/adapters';
 * import { StaticRegistry } from '@psi/registry';
 *
 * const http = new HttpTransport({ defaultTimeoutMs: 5_000 });
 * const inbound = new HttpInboundServer({ sink: http.inboundSink, bearerToken: process.env.PSI_TOKEN! });
 * const { url } = await inbound.start(); // answers: POST {url}/messages
 * const registry = new StaticRegistry({
 *   supplier: { transport: 'http', address: 'https://supplier.example/orders', replyAddress: `${url}/messages` },
 * });
 * const coordinator = await Coordinator.create({ store, engine, registry, transports: [http], adapters });
 * ```
 *
 * Runnable: `npm run demo -- --transport http` (samples/procurement/demo-wiring.ts).
 */
export { InProcessTransport } from './in-process/in-process.transport';
export type {
  InProcessCallContext,
  InProcessOperation,
  InProcessService,
  InProcessTransportOptions,
} from './in-process/in-process.transport';

export { HttpTransport } from './http/http.transport';
export type { HttpTransportOptions } from './http/http.transport';
export { HttpInboundServer } from './http/http-inbound.server';
export type { HttpInboundSettings } from './http/http-inbound.server';
export type { HttpInboundServerOptions, HttpAccessLogOptions } from './http/http-inbound-options';
export type { HttpInboundLog } from './http/inbound-logging';
export type { RateLimitOptions } from './http/source-rate-limiter';
export { DEFAULT_RATE_LIMIT } from './http/source-rate-limiter';
export { PsiHttpHeader } from './http/psi-http-header';
export { CallbackTokenService } from './callback/callback-token.service';
export type {
  CallbackTokenKey,
  CallbackTokenServiceOptions,
  CallbackTokenClaims,
  IssueCallbackTokenRequest,
} from './callback/callback-token.service';
export { callbackUrlPlaceholder, withCallbackUrls } from './callback/callback-urls';
export type { CallbackUrlGrant, CallbackUrlOptions } from './callback/callback-urls';
export {
  AdaptersErrorCode,
  CallbackTokenInvalidError,
  CallbackTokenExpiredError,
  CallbackTokenConfigError,
  HttpBodyTooLargeError,
  HttpBodyMalformedError,
  HttpRequestInvalidError,
  HttpUnauthorizedError,
  HttpUnsupportedMediaTypeError,
  HttpNotFoundError,
  HttpNotImplementedError,
  HttpInternalError,
  HttpUriTooLongError,
  HttpHeadersTooLargeError,
  HttpRequestTimeoutError,
  HttpRateLimitedError,
  HttpInboundConfigError,
  TransportConfigError,
  CallbackEventNotAllowedError,
  CallbackLateError,
  CallbackPayloadInvalidError,
  InboundUnavailableError,
} from './errors';
