import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ConsoleErrorCode, ConsoleRequestError } from './errors';

/** Who is asking, as the application's `authorize` hook resolves it. */
export interface ConsoleUser {
  /** Recorded as the actor of every action this user takes. */
  name: string;
  /** `reader`: sees everything, acts on nothing; `operator`: also acts. */
  role: 'reader' | 'operator';
}

/** The application's authorization: the user behind a request, or null (not logged in). */
export type ConsoleAuthorize = (
  request: FastifyRequest,
) => ConsoleUser | null | undefined | Promise<ConsoleUser | null | undefined>;

const TOKEN_TTL_MS = 12 * 3_600_000;

/**
 * CSRF tokens: `<issuedAt>.<HMAC(secret, user name, issuedAt)>`, bound to the user and valid
 * for 12 h. Every form carries one; every POST must send it back (form field `_csrf` or header
 * `x-psi-csrf`). Stateless, so any instance of the app with the same secret accepts it.
 */
export class CsrfTokens {
  private readonly secret: Buffer;

  constructor(
    secret: string | Buffer | undefined,
    private readonly clock: () => number = Date.now,
  ) {
    this.secret = secret === undefined ? randomBytes(32) : Buffer.from(secret);
  }

  issue(user: ConsoleUser): string {
    const issuedAt = this.clock();
    return `${issuedAt}.${this.mac(user, issuedAt)}`;
  }

  /** ConsoleRequestError (403, PSI_CONSOLE_CSRF) unless `token` was issued to `user` and is fresh. */
  check(user: ConsoleUser, token: unknown): void {
    const refuse = (why: string) => {
      throw new ConsoleRequestError(
        403,
        ConsoleErrorCode.Csrf,
        `CSRF check failed: ${why}; reload the page and try again.`,
      );
    };
    if (typeof token !== 'string' || token.length === 0) refuse('no token');
    const [at, mac] = (token as string).split('.');
    const issuedAt = Number(at);
    if (!Number.isFinite(issuedAt) || !mac) refuse('malformed token');
    const age = this.clock() - issuedAt;
    if (age < 0 || age > TOKEN_TTL_MS) refuse('token expired');
    const expected = Buffer.from(this.mac(user, issuedAt));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given))
      refuse('token not issued to this user');
  }

  private mac(user: ConsoleUser, issuedAt: number): string {
    return createHmac('sha256', this.secret)
      .update(`${user.name}\u0000${issuedAt}`)
      .digest('base64url');
  }
}

/**
 * Whether a request comes from this machine: its address and every address a proxy put in
 * X-Forwarded-For / Forwarded are loopback (a local reverse proxy must not open it to the world).
 */
export function isLocalRequest(
  ip: string,
  headers: Record<string, string | string[] | undefined>,
): boolean {
  const forwarded = [headers['x-forwarded-for'], headers.forwarded]
    .flat()
    .filter((v): v is string => typeof v === 'string')
    .flatMap((v) => v.split(','))
    .map((part) => {
      const match = /for="?\[?([^\]";]+)/i.exec(part);
      return (match ? match[1] : part).trim();
    })
    .filter(Boolean);
  return [ip, ...forwarded].every(isLoopback);
}

/** Whether a client address is loopback (127.0.0.0/8, ::1, IPv4-mapped loopback). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const ip = address.startsWith('::ffff:') ? address.slice(7) : address;
  return ip === '::1' || /^127\.\d+\.\d+\.\d+$/.test(ip);
}
