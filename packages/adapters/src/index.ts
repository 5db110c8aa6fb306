export { InProcessTransport } from './in-process/in-process.transport';
export type {
  InProcessCallContext,
  InProcessOperation,
  InProcessService,
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
  CallbackEventNotAllowedError,
  CallbackLateError,
  CallbackPayloadInvalidError,
  InboundUnavailableError,
} from './errors';
