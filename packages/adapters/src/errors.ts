import { PsiError } from '@psi/core';

/** Stable error codes of @psi/adapters. Codes never change meaning; new ones are added. */
export const AdaptersErrorCode = {
  CallbackTokenInvalid: 'PSI_CALLBACK_TOKEN_INVALID',
  CallbackTokenExpired: 'PSI_CALLBACK_TOKEN_EXPIRED',
  CallbackTokenConfigInvalid: 'PSI_CALLBACK_TOKEN_CONFIG_INVALID',
  HttpBodyTooLarge: 'PSI_HTTP_BODY_TOO_LARGE',
  HttpBodyMalformed: 'PSI_HTTP_BODY_MALFORMED',
  HttpRequestInvalid: 'PSI_HTTP_REQUEST_INVALID',
  HttpUnauthorized: 'PSI_HTTP_UNAUTHORIZED',
  HttpUnsupportedMediaType: 'PSI_HTTP_UNSUPPORTED_MEDIA_TYPE',
  HttpNotFound: 'PSI_HTTP_NOT_FOUND',
  HttpNotImplemented: 'PSI_HTTP_NOT_IMPLEMENTED',
  HttpInternal: 'PSI_HTTP_INTERNAL',
  InboundUnavailable: 'PSI_INBOUND_UNAVAILABLE',
  HttpUriTooLong: 'PSI_HTTP_URI_TOO_LONG',
  HttpHeadersTooLarge: 'PSI_HTTP_HEADERS_TOO_LARGE',
  HttpRequestTimeout: 'PSI_HTTP_REQUEST_TIMEOUT',
  HttpRateLimited: 'PSI_HTTP_RATE_LIMITED',
  HttpConfigInvalid: 'PSI_HTTP_CONFIG_INVALID',
  CallbackEventNotAllowed: 'PSI_CALLBACK_EVENT_NOT_ALLOWED',
  CallbackLate: 'PSI_CALLBACK_LATE',
  CallbackPayloadInvalid: 'PSI_CALLBACK_PAYLOAD_INVALID',
  TransportConfigInvalid: 'PSI_TRANSPORT_CONFIG_INVALID',
} as const;
export type AdaptersErrorCode = (typeof AdaptersErrorCode)[keyof typeof AdaptersErrorCode];

/**
 * Thrown by `CallbackTokenService.verify` for a token that was not issued with one of the
 * configured keys: forged, tampered with, truncated, or signed with a key that was removed.
 * The HTTP inbound server answers 401; nothing changes.
 */
export class CallbackTokenInvalidError extends PsiError {
  constructor(readonly reason: string) {
    super(AdaptersErrorCode.CallbackTokenInvalid, `Callback token is invalid: ${reason}.`);
  }
  protected override details(): unknown {
    return { reason: this.reason };
  }
}

/**
 * Thrown by `CallbackTokenService.verify` for a genuine token past its expiry. The HTTP inbound
 * server answers 410; the caller must ask the process for a new token.
 */
export class CallbackTokenExpiredError extends PsiError {
  constructor(readonly expiredAt: Date) {
    super(
      AdaptersErrorCode.CallbackTokenExpired,
      `Callback token expired at ${expiredAt.toISOString()}; it can no longer be used.`,
    );
  }
  protected override details(): unknown {
    return { expiredAt: this.expiredAt.toISOString() };
  }
}

/** Thrown by the `CallbackTokenService` constructor and `issue` for unusable keys or expiry. */
export class CallbackTokenConfigError extends PsiError {
  constructor(problem: string) {
    super(
      AdaptersErrorCode.CallbackTokenConfigInvalid,
      `Callback token configuration is invalid: ${problem}`,
    );
  }
}

/** A request body above the inbound server's `bodyLimitBytes` (HTTP 413). */
export class HttpBodyTooLargeError extends PsiError {
  constructor(readonly limitBytes: number) {
    super(
      AdaptersErrorCode.HttpBodyTooLarge,
      `Request body exceeds ${limitBytes} bytes; send less or raise the server's bodyLimitBytes.`,
    );
  }
  protected override details(): unknown {
    return { limitBytes: this.limitBytes };
  }
}

/**
 * A JSON request body that does not parse, or holds `__proto__` keys (HTTP 400). The message
 * says which, never what the body held.
 */
export class HttpBodyMalformedError extends PsiError {
  constructor(readonly problem: 'unparseable' | 'empty' | 'proto-key') {
    super(
      AdaptersErrorCode.HttpBodyMalformed,
      problem === 'proto-key'
        ? 'Request body is refused: "__proto__" keys are not allowed.'
        : problem === 'empty'
          ? 'Request body is empty; send a JSON object.'
          : 'Request body is not valid JSON.',
    );
  }
}

/** A well-formed JSON body whose fields are wrong for the route (HTTP 400), e.g. no `waitState`. */
export class HttpRequestInvalidError extends PsiError {
  constructor(readonly problem: string) {
    super(AdaptersErrorCode.HttpRequestInvalid, `Request is invalid: ${problem}`);
  }
}

/** A missing or wrong bearer token on a route that needs one (HTTP 401). */
export class HttpUnauthorizedError extends PsiError {
  constructor() {
    super(
      AdaptersErrorCode.HttpUnauthorized,
      'Missing or wrong bearer token; send "Authorization: Bearer <token>".',
    );
  }
}

/** A request body that is not JSON (HTTP 415). */
export class HttpUnsupportedMediaTypeError extends PsiError {
  constructor() {
    super(
      AdaptersErrorCode.HttpUnsupportedMediaType,
      'This content type is not supported; send application/json.',
    );
  }
}

/** No route for the method and path (HTTP 404); the answer does not repeat the path. */
export class HttpNotFoundError extends PsiError {
  constructor() {
    super(AdaptersErrorCode.HttpNotFound, 'No route for this method and path.');
  }
}

/** A path segment over the router's limit, e.g. an overlong callback token (HTTP 414). */
export class HttpUriTooLongError extends PsiError {
  constructor() {
    super(AdaptersErrorCode.HttpUriTooLong, 'The request path is too long.');
  }
}

/** Request line and headers above the server's `maxHeaderBytes` (HTTP 431). */
export class HttpHeadersTooLargeError extends PsiError {
  constructor(readonly limitBytes: number) {
    super(
      AdaptersErrorCode.HttpHeadersTooLarge,
      `Request line and headers exceed ${limitBytes} bytes.`,
    );
  }
  protected override details(): unknown {
    return { limitBytes: this.limitBytes };
  }
}

/**
 * A request whose headers or body did not arrive within the server's `headersTimeoutMs` /
 * `requestTimeoutMs` (HTTP 408; the connection is closed).
 */
export class HttpRequestTimeoutError extends PsiError {
  constructor() {
    super(
      AdaptersErrorCode.HttpRequestTimeout,
      'The request did not arrive completely in time; the connection is closed.',
    );
  }
}

/**
 * A source (remote address) above the server's `rateLimit` (HTTP 429, with `Retry-After`). Nothing
 * was handed to PSI: send it again after `retryAfterSeconds`.
 */
export class HttpRateLimitedError extends PsiError {
  constructor(readonly retryAfterSeconds: number) {
    super(
      AdaptersErrorCode.HttpRateLimited,
      `Too many requests from this source; retry after ${retryAfterSeconds} s.`,
    );
  }
  protected override details(): unknown {
    return { retryAfterSeconds: this.retryAfterSeconds };
  }
}

/**
 * Thrown by the HttpInboundServer constructor for unusable options, and when it is given neither
 * `bearerToken` nor `allowUnauthenticated: true`: the server does not run open unless told so.
 */
export class HttpInboundConfigError extends PsiError {
  constructor(problem: string) {
    super(
      AdaptersErrorCode.HttpConfigInvalid,
      `HTTP inbound server options are invalid: ${problem}`,
    );
  }
}

/** A callback whose event is not among those its token allows (HTTP 403); nothing changes. */
export class CallbackEventNotAllowedError extends PsiError {
  constructor() {
    super(
      AdaptersErrorCode.CallbackEventNotAllowed,
      'This callback token does not allow this event.',
    );
  }
}

/**
 * A callback for a visit of a wait state the instance has left: its expectation was delivered,
 * timed out or closed by another answer (HTTP 409). The report is kept as dead letter
 * `deadLetterId` (reason `late` or `superseded`).
 */
export class CallbackLateError extends PsiError {
  constructor(
    readonly deadLetterId: string,
    readonly reason: string,
  ) {
    super(
      AdaptersErrorCode.CallbackLate,
      'The wait state this callback token was issued for has been left; the report was not delivered and is kept as a dead letter.',
    );
  }
  protected override details(): unknown {
    return { deadLetterId: this.deadLetterId, reason: this.reason };
  }
}

/**
 * A callback whose `data` failed the response handler's validation (HTTP 422). The report is
 * kept as dead letter `deadLetterId` (reason `invalid`); a corrected report may be sent.
 */
export class CallbackPayloadInvalidError extends PsiError {
  constructor(readonly deadLetterId: string) {
    super(
      AdaptersErrorCode.CallbackPayloadInvalid,
      'The callback data does not pass the validation of the answer it reports; send a corrected report.',
    );
  }
  protected override details(): unknown {
    return { deadLetterId: this.deadLetterId };
  }
}

/** A route the server cannot serve as configured, e.g. a signal without an engine (HTTP 501). */
export class HttpNotImplementedError extends PsiError {
  constructor(problem: string) {
    super(AdaptersErrorCode.HttpNotImplemented, problem);
  }
}

/** Anything unexpected (HTTP 500); the body carries no stack and no internal message. */
export class HttpInternalError extends PsiError {
  constructor() {
    super(AdaptersErrorCode.HttpInternal, 'Internal error; the server log has the details.');
  }
}

/**
 * Thrown by a transport's forwarding inbound sink while the transport is not started (before
 * `start` or after `stop`). The HTTP inbound server answers 503 so the sender retries later.
 */
export class InboundUnavailableError extends PsiError {
  constructor(transport: string) {
    super(
      AdaptersErrorCode.InboundUnavailable,
      `Transport "${transport}" is not started and accepts no inbound messages; retry later.`,
    );
  }
}

/** Stable error codes of the Kafka transport. Codes never change meaning; new ones are added. */
export const KafkaErrorCode = {
  KafkaClientMissing: 'PSI_KAFKA_CLIENT_MISSING',
  KafkaOptionsInvalid: 'PSI_KAFKA_OPTIONS_INVALID',
  KafkaReplyToMissing: 'PSI_KAFKA_REPLY_TO_MISSING',
  KafkaMockClusterFailed: 'PSI_KAFKA_MOCK_CLUSTER_FAILED',
} as const;
export type KafkaErrorCode = (typeof KafkaErrorCode)[keyof typeof KafkaErrorCode];

/**
 * Thrown when a Kafka transport or service host is created but `kafkajs` is not installed. It is
 * an optional peer dependency of `@psi/adapters`: `npm install kafkajs@^2.2.4`.
 */
export class KafkaClientMissingError extends PsiError {
  constructor(options?: { cause?: unknown }) {
    super(
      KafkaErrorCode.KafkaClientMissing,
      'The Kafka transport needs the optional peer dependency "kafkajs"; install it with `npm install kafkajs@^2.2.4`.',
      options,
    );
  }
}

/** Thrown by `compileKafkaOptions` (so by the KafkaTransport constructor) for unusable options. */
export class KafkaOptionsError extends PsiError {
  constructor(readonly problem: string) {
    super(KafkaErrorCode.KafkaOptionsInvalid, `Kafka options are invalid: ${problem}`);
  }
}

/**
 * Thrown by `KafkaServiceHost`'s `respond` for a request that carries no `x-psi-reply-to`
 * header when the host has no `defaultReplyTopic`: there is nowhere to send the answer.
 */
export class KafkaReplyToMissingError extends PsiError {
  constructor(readonly requestId: string) {
    super(
      KafkaErrorCode.KafkaReplyToMissing,
      `Request ${requestId} names no reply topic (header x-psi-reply-to); give the KafkaServiceHost a defaultReplyTopic.`,
    );
  }
}

/**
 * Thrown by `startKafkaMockCluster` (`@psi/adapters/testing`) when the mock cluster's host process
 * does not come up: `node-rdkafka` is not installed (an optional peer dependency that builds
 * librdkafka at install), it failed to build, or the cluster gave no addresses in time.
 */
export class KafkaMockClusterError extends PsiError {
  constructor(
    readonly problem: string,
    readonly output: string,
  ) {
    super(
      KafkaErrorCode.KafkaMockClusterFailed,
      `The Kafka mock cluster did not start: ${problem}.` +
        (output ? ` Its output: ${output}` : '') +
        ' It needs node-rdkafka (`npm install --save-dev node-rdkafka`); or set KAFKA_BROKERS to a real cluster.',
    );
  }
  protected override details(): unknown {
    return { problem: this.problem, output: this.output };
  }
}

/** Thrown by a transport's constructor for an option it cannot use (a negative timeout, say). */
export class TransportConfigError extends PsiError {
  constructor(transport: string, problem: string) {
    super(AdaptersErrorCode.TransportConfigInvalid, `${transport} options are invalid: ${problem}`);
  }
}
