import { PsiError, PsiErrorCode } from '@psi/core';
import {
  AdaptersErrorCode,
  HttpBodyMalformedError,
  HttpBodyTooLargeError,
  HttpRequestInvalidError,
  HttpUnsupportedMediaTypeError,
  HttpUriTooLongError,
} from '../errors';

/** An error as the inbound server answers it: status and `{ code, message, ...details }`. */
export interface PublicError {
  status: number;
  body: { code: string; message: string } & Record<string, unknown>;
}

interface Shape {
  status: number;
  /** Replaces the error's own message where that one repeats what the caller sent. */
  message?: string;
  /** The detail fields that may go out (none of them repeats the request). */
  details?: readonly string[];
}

/**
 * Every code the server answers with. Bodies never repeat the request: messages are fixed texts
 * (or the error's own where it holds none of the input) and only the listed details go out.
 */
const shapes: Record<string, Shape> = {
  [AdaptersErrorCode.HttpBodyMalformed]: { status: 400 },
  [AdaptersErrorCode.HttpRequestInvalid]: { status: 400 },
  [PsiErrorCode.MessageInvalid]: { status: 400 },
  [PsiErrorCode.MessageLimitExceeded]: { status: 400, details: ['field', 'limit', 'max'] },
  [AdaptersErrorCode.HttpUnauthorized]: { status: 401 },
  [AdaptersErrorCode.CallbackTokenInvalid]: { status: 401, details: ['reason'] },
  [AdaptersErrorCode.CallbackEventNotAllowed]: { status: 403 },
  [PsiErrorCode.CallbackBindingViolated]: { status: 403 },
  [AdaptersErrorCode.HttpNotFound]: { status: 404 },
  [PsiErrorCode.InstanceNotFound]: { status: 404, message: 'No such process instance.' },
  [AdaptersErrorCode.HttpRequestTimeout]: { status: 408 },
  [PsiErrorCode.EngineSignalRejected]: {
    status: 409,
    message: 'The instance is not at the wait state the request names.',
    details: ['currentStates'],
  },
  // Engine plugins refusing the transition a signal names (codes of @psi/engines, which this
  // package does not depend on): the caller's mistake, answered like a state conflict.
  PSI_ENGINE_TRANSITION_UNKNOWN: {
    status: 409,
    message: 'The wait state has no transition of that name.',
  },
  PSI_ENGINE_TRANSITION_REFUSED: { status: 409, message: 'The engine refused that transition.' },
  [AdaptersErrorCode.CallbackLate]: { status: 409, details: ['deadLetterId', 'reason'] },
  [AdaptersErrorCode.CallbackTokenExpired]: { status: 410, details: ['expiredAt'] },
  [AdaptersErrorCode.HttpBodyTooLarge]: { status: 413, details: ['limitBytes'] },
  [AdaptersErrorCode.HttpUriTooLong]: { status: 414 },
  [AdaptersErrorCode.HttpUnsupportedMediaType]: { status: 415 },
  [AdaptersErrorCode.CallbackPayloadInvalid]: { status: 422, details: ['deadLetterId'] },
  [AdaptersErrorCode.HttpRateLimited]: { status: 429, details: ['retryAfterSeconds'] },
  [AdaptersErrorCode.HttpHeadersTooLarge]: { status: 431, details: ['limitBytes'] },
  [AdaptersErrorCode.HttpNotImplemented]: { status: 501 },
  [AdaptersErrorCode.InboundUnavailable]: { status: 503 },
  [PsiErrorCode.CoordinatorClosed]: { status: 503 },
};

/** The answer for a PsiError of a code above; undefined for anything else (a 500). */
export function publicError(error: PsiError): PublicError | undefined {
  const shape = shapes[error.code];
  if (!shape) return undefined;
  const details = error.toJSON().details;
  const allowed: Record<string, unknown> = {};
  if (typeof details === 'object' && details !== null) {
    for (const field of shape.details ?? []) {
      const value = (details as Record<string, unknown>)[field];
      if (value !== undefined) allowed[field] = value;
    }
  }
  return {
    status: shape.status,
    body: { ...allowed, code: error.code, message: shape.message ?? error.message },
  };
}

/**
 * fastify's own errors (body parsing, routing) as PSI errors with fixed messages; undefined for
 * anything unexpected. fastify's messages may quote the request, so none is passed on.
 */
export function fromFastifyError(error: unknown, bodyLimitBytes: number): PsiError | undefined {
  if (PsiError.is(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpBodyTooLargeError(bodyLimitBytes);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpUnsupportedMediaTypeError();
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpBodyMalformedError('empty');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpBodyMalformedError('unparseable');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new HttpUriTooLongError();
    case 'FST_ERR_BAD_URL':
      return new HttpRequestInvalidError('the URL is malformed.');
  }
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return new HttpRequestInvalidError('the request is malformed.');
  }
  return undefined;
}
