import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  CallbackTokenConfigError,
  CallbackTokenExpiredError,
  CallbackTokenInvalidError,
} from '../errors';

/** One HMAC key. Ids appear in tokens (so a token names the key that signed it); secrets never do. */
export interface CallbackTokenKey {
  /** Letters, digits, `_` and `-`; unique among the configured keys. */
  id: string;
  /** At least 32 bytes (a string counts its UTF-8 bytes). */
  secret: string | Buffer;
}

export interface CallbackTokenServiceOptions {
  /**
   * Newest key first: the first key signs, every key verifies. Rotate by prepending a new key and
   * dropping the oldest once the tokens it signed have expired.
   */
  keys: readonly CallbackTokenKey[];
  /** Clock in epoch milliseconds, for tests. @default Date.now */
  now?: () => number;
}

/**
 * What a callback token is good for: answering one visit of one wait state of one instance, with
 * the events it names, before a deadline. A callback is handed to PSI as an answer with the
 * invocation's correlation key, bound to the instance and wait state: the adapter's response
 * handler for the event runs and decides what is written and which transition is taken.
 */
export type IssueCallbackTokenRequest = {
  instanceId: string;
  /** The wait state the answer is for (the handler's `@OnResponse({ waitState })`). */
  waitState: string;
  /**
   * The correlation key of the invocation that expects the answer: one visit of the wait state.
   * A later visit is another invocation with another key, which this token cannot reach.
   */
  correlationKey: string;
  /** The answer events the holder may send (each declared by `@OnResponse` at `waitState`). */
  events: readonly string[];
} & ({ expiresAt: Date; ttlMs?: never } | { ttlMs: number; expiresAt?: never });

/** The verified content of a callback token. */
export interface CallbackTokenClaims {
  instanceId: string;
  waitState: string;
  correlationKey: string;
  events: readonly string[];
  issuedAt: Date;
  expiresAt: Date;
  /** Random and unique per token: usable as a message id or an audit reference. */
  tokenId: string;
  /** Id of the key that signed it. */
  keyId: string;
}

interface TokenPayload {
  i: string;
  w: string;
  c: string;
  e: string[];
  iat: number;
  exp: number;
  n: string;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MIN_SECRET_BYTES = 32;
const MAX_TOKEN_LENGTH = 4096;

/**
 * Issues and verifies callback tokens: unguessable, signed tokens handed to an external
 * long-running activity, which presents one to report completion (`POST /callbacks/:token`).
 *
 * A token is `<payload>.<keyId>.<signature>`: base64url JSON claims, the signing key's id, and a
 * base64url HMAC-SHA256 over the first two parts. Tokens are opaque to their holders and carry no
 * secret; they are not encrypted, so claims must not hold confidential data. The signature is what
 * makes a token a credential: never store or log a whole token. Issue it where it is handed over
 * (`withCallbackUrls` mints it at send time, so PSI's store only holds a placeholder).
 */
export class CallbackTokenService {
  private readonly keys: ReadonlyMap<string, Buffer>;
  private readonly signingKeyId: string;
  private readonly now: () => number;

  constructor(options: CallbackTokenServiceOptions) {
    if (options.keys.length === 0) {
      throw new CallbackTokenConfigError('at least one key is required.');
    }
    const keys = new Map<string, Buffer>();
    for (const key of options.keys) {
      if (!KEY_ID.test(key.id)) {
        throw new CallbackTokenConfigError(
          `key id "${key.id}" must be 1-64 letters, digits, "_" or "-".`,
        );
      }
      if (keys.has(key.id)) {
        throw new CallbackTokenConfigError(`key id "${key.id}" is configured twice.`);
      }
      const secret = Buffer.from(key.secret);
      if (secret.length < MIN_SECRET_BYTES) {
        throw new CallbackTokenConfigError(
          `the secret of key "${key.id}" has ${secret.length} bytes; use at least ${MIN_SECRET_BYTES} random bytes.`,
        );
      }
      keys.set(key.id, secret);
    }
    this.keys = keys;
    this.signingKeyId = options.keys[0]!.id;
    this.now = options.now ?? Date.now;
  }

  /** Issues a token signed with the first (newest) key. */
  issue(request: IssueCallbackTokenRequest): string {
    const issuedAt = this.now();
    const expiresAt = request.expiresAt ? request.expiresAt.getTime() : issuedAt + request.ttlMs!;
    if (!Number.isFinite(expiresAt) || expiresAt <= issuedAt) {
      throw new CallbackTokenConfigError('a token must expire in the future (expiresAt / ttlMs).');
    }
    if (!request.instanceId || !request.waitState || !request.correlationKey) {
      throw new CallbackTokenConfigError('instanceId, waitState and correlationKey are required.');
    }
    const events = request.events as readonly unknown[] | undefined;
    if (
      !Array.isArray(events) ||
      events.length === 0 ||
      !events.every((e) => typeof e === 'string' && e !== '')
    ) {
      throw new CallbackTokenConfigError('events must name at least one answer event.');
    }
    const payload: TokenPayload = {
      i: request.instanceId,
      w: request.waitState,
      c: request.correlationKey,
      e: [...(events as string[])],
      iat: issuedAt,
      exp: expiresAt,
      n: randomBytes(16).toString('base64url'),
    };
    const signed = `${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${this.signingKeyId}`;
    return `${signed}.${this.sign(this.signingKeyId, signed).toString('base64url')}`;
  }

  /**
   * Returns the token's claims. Throws CallbackTokenInvalidError (`PSI_CALLBACK_TOKEN_INVALID`)
   * for anything not signed by a configured key, and CallbackTokenExpiredError
   * (`PSI_CALLBACK_TOKEN_EXPIRED`) for a genuine token past its expiry. The signature is checked
   * first, so a forged token never learns whether it would have been expired.
   */
  verify(token: string): CallbackTokenClaims {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) {
      throw new CallbackTokenInvalidError('not a token');
    }
    const parts = token.split('.');
    if (parts.length !== 3) throw new CallbackTokenInvalidError('not a token');
    const [encodedPayload, keyId, signature] = parts as [string, string, string];
    if (!this.keys.has(keyId)) throw new CallbackTokenInvalidError('unknown signing key');
    const expected = this.sign(keyId, `${encodedPayload}.${keyId}`);
    const actual = Buffer.from(signature, 'base64url');
    // Re-encoding rejects non-canonical base64url spellings of the same bytes.
    if (
      actual.length !== expected.length ||
      actual.toString('base64url') !== signature ||
      !timingSafeEqual(actual, expected)
    ) {
      throw new CallbackTokenInvalidError('bad signature');
    }
    const payload = parsePayload(encodedPayload);
    const claims: CallbackTokenClaims = {
      instanceId: payload.i,
      waitState: payload.w,
      correlationKey: payload.c,
      events: payload.e,
      issuedAt: new Date(payload.iat),
      expiresAt: new Date(payload.exp),
      tokenId: payload.n,
      keyId,
    };
    if (this.now() >= payload.exp) throw new CallbackTokenExpiredError(claims.expiresAt);
    return claims;
  }

  private sign(keyId: string, data: string): Buffer {
    return createHmac('sha256', this.keys.get(keyId)!).update(data).digest();
  }
}

function parsePayload(encoded: string): TokenPayload {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
  } catch {
    throw new CallbackTokenInvalidError('unreadable claims');
  }
  const p = value as Partial<TokenPayload> | null;
  if (
    typeof p !== 'object' ||
    p === null ||
    typeof p.i !== 'string' ||
    typeof p.w !== 'string' ||
    typeof p.c !== 'string' ||
    !Array.isArray(p.e) ||
    !p.e.every((e) => typeof e === 'string') ||
    typeof p.iat !== 'number' ||
    typeof p.exp !== 'number' ||
    typeof p.n !== 'string'
  ) {
    throw new CallbackTokenInvalidError('unreadable claims');
  }
  return p as TokenPayload;
}
