export { InProcessTransport } from './in-process/in-process.transport';
export type {
  InProcessCallContext,
  InProcessOperation,
  InProcessService,
} from './in-process/in-process.transport';

export { HttpTransport } from './http/http.transport';
export type { HttpTransportOptions } from './http/http.transport';
export { HttpInboundServer } from './http/http-inbound.server';
export type { HttpInboundServerOptions } from './http/http-inbound.server';
export { PsiHttpHeader } from './http/psi-http-header';
export { CallbackTokenService } from './callback/callback-token.service';
export type {
  CallbackTokenKey,
  CallbackTokenServiceOptions,
  CallbackTokenClaims,
  IssueCallbackTokenRequest,
} from './callback/callback-token.service';
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
  InboundUnavailableError,
} from './errors';
