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

/** A JSON request body that does not parse (HTTP 400); `parseError` says where. */
export class HttpBodyMalformedError extends PsiError {
  constructor(readonly parseError: string) {
    super(AdaptersErrorCode.HttpBodyMalformed, `Request body is not valid JSON: ${parseError}`);
  }
  protected override details(): unknown {
    return { parseError: this.parseError };
  }
}

/** A well-formed JSON body whose fields are wrong for the route (HTTP 400), e.g. no `waitState`. */
export class HttpRequestInvalidError extends PsiError {
  constructor(readonly problem: string) {
    super(AdaptersErrorCode.HttpRequestInvalid, `Request is invalid: ${problem}`);
  }
}

/** A missing or wrong bearer token on a server configured with `bearerToken` (HTTP 401). */
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
  constructor(readonly contentType: string | undefined) {
    super(
      AdaptersErrorCode.HttpUnsupportedMediaType,
      `Content type "${contentType ?? '(none)'}" is not supported; send application/json.`,
    );
  }
}

/** No route for the method and path (HTTP 404). */
export class HttpNotFoundError extends PsiError {
  constructor(
    readonly method: string,
    readonly path: string,
  ) {
    super(AdaptersErrorCode.HttpNotFound, `No route for ${method} ${path}.`);
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
