import { randomBytes } from 'node:crypto';
import { PsiError } from '@psi/core';
import { AdaptersErrorCode } from '../errors';
import { CallbackTokenService } from './callback-token.service';

const secret = (): Buffer => randomBytes(32);

/** What every token names besides its instance, wait state and expiry. */
const bound = { correlationKey: 'corr-1', events: ['done'] } as const;

function errorCode(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return PsiError.is(error) ? error.code : `not a PsiError: ${String(error)}`;
  }
  return undefined;
}

/** Replaces the character at `index` with a different base64url character. */
function flip(text: string, index: number): string {
  const replacement = text[index] === 'A' ? 'B' : 'A';
  return `${text.slice(0, index)}${replacement}${text.slice(index + 1)}`;
}

describe(CallbackTokenService, () => {
  let clock: number;
  const now = (): number => clock;
  beforeEach(() => {
    clock = Date.UTC(2025, 0, 1);
  });

  describe('.issue / .verify', () => {
    it('round-trips the claims of a token issued with ttlMs', () => {
      const tokens = new CallbackTokenService({ keys: [{ id: 'k1', secret: secret() }], now });

      const token = tokens.issue({
        instanceId: 'i-1',
        waitState: 'scriptRunning',
        ...bound,
        ttlMs: 60_000,
      });

      expect(token).toMatch(/^[A-Za-z0-9_-]+\.k1\.[A-Za-z0-9_-]+$/);
      expect(tokens.verify(token)).toEqual({
        instanceId: 'i-1',
        waitState: 'scriptRunning',
        correlationKey: 'corr-1',
        events: ['done'],
        issuedAt: new Date(clock),
        expiresAt: new Date(clock + 60_000),
        tokenId: expect.any(String),
        keyId: 'k1',
      });
    });

    it('carries its correlation key, its events and an absolute expiry when given', () => {
      const tokens = new CallbackTokenService({ keys: [{ id: 'k1', secret: secret() }], now });
      const expiresAt = new Date(clock + 3_600_000);

      const claims = tokens.verify(
        tokens.issue({
          instanceId: 'i-1',
          waitState: 'w',
          correlationKey: 'corr-9',
          events: ['done', 'failed'],
          expiresAt,
        }),
      );

      expect(claims).toMatchObject({
        correlationKey: 'corr-9',
        events: ['done', 'failed'],
        expiresAt,
      });
    });

    it('issues a different token each time, even for the same claims', () => {
      const tokens = new CallbackTokenService({ keys: [{ id: 'k1', secret: secret() }], now });
      const request = { instanceId: 'i-1', waitState: 'w', ...bound, ttlMs: 1_000 };

      expect(tokens.issue(request)).not.toBe(tokens.issue(request));
    });
  });

  describe('having rotated keys', () => {
    const k1 = { id: 'k1', secret: secret() };
    const k2 = { id: 'k2', secret: secret() };

    it('signs with the first key and still verifies tokens of the older key', () => {
      const before = new CallbackTokenService({ keys: [k1], now });
      const after = new CallbackTokenService({ keys: [k2, k1], now });
      const oldToken = before.issue({ instanceId: 'i-1', waitState: 'w', ...bound, ttlMs: 60_000 });

      const newToken = after.issue({ instanceId: 'i-2', waitState: 'w', ...bound, ttlMs: 60_000 });

      expect(after.verify(oldToken)).toMatchObject({ instanceId: 'i-1', keyId: 'k1' });
      expect(after.verify(newToken)).toMatchObject({ instanceId: 'i-2', keyId: 'k2' });
    });

    it('rejects tokens of a key that was removed', () => {
      const before = new CallbackTokenService({ keys: [k1], now });
      const retired = new CallbackTokenService({ keys: [k2], now });
      const oldToken = before.issue({ instanceId: 'i-1', waitState: 'w', ...bound, ttlMs: 60_000 });

      expect(errorCode(() => retired.verify(oldToken))).toBe(
        AdaptersErrorCode.CallbackTokenInvalid,
      );
    });

    it('rejects a token signed with another secret under the same key id', () => {
      const forger = new CallbackTokenService({ keys: [{ id: 'k1', secret: secret() }], now });
      const tokens = new CallbackTokenService({ keys: [k1], now });

      const forged = forger.issue({ instanceId: 'i-1', waitState: 'w', ...bound, ttlMs: 60_000 });

      expect(errorCode(() => tokens.verify(forged))).toBe(AdaptersErrorCode.CallbackTokenInvalid);
    });
  });

  describe('when the token was tampered with', () => {
    const tokens = new CallbackTokenService({ keys: [{ id: 'k1', secret: secret() }] });
    const token = tokens.issue({ instanceId: 'i-1', waitState: 'w', ...bound, ttlMs: 60_000 });
    const [payload, keyId, signature] = token.split('.') as [string, string, string];

    it.each([
      [
        'a changed claim',
        () => {
          const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as object;
          const changed = Buffer.from(JSON.stringify({ ...claims, i: 'i-2' })).toString(
            'base64url',
          );
          return `${changed}.${keyId}.${signature}`;
        },
      ],
      ['a flipped payload character', () => `${flip(payload, 3)}.${keyId}.${signature}`],
      ['a flipped signature character', () => `${payload}.${keyId}.${flip(signature, 5)}`],
      ['a truncated signature', () => `${payload}.${keyId}.${signature.slice(0, -2)}`],
      ['an unknown key id', () => `${payload}.k9.${signature}`],
      ['a missing part', () => `${payload}.${keyId}`],
      ['an extra part', () => `${token}.x`],
      ['an empty string', () => ''],
      ['garbage', () => 'not-a-token'],
    ])('rejects %s as invalid', (_case, build) => {
      expect(errorCode(() => tokens.verify(build()))).toBe(AdaptersErrorCode.CallbackTokenInvalid);
    });
  });

  describe('when the token expired', () => {
    it('rejects it as expired from its expiry instant on', () => {
      const tokens = new CallbackTokenService({ keys: [{ id: 'k1', secret: secret() }], now });
      const token = tokens.issue({ instanceId: 'i-1', waitState: 'w', ...bound, ttlMs: 1_000 });

      clock += 999;
      expect(tokens.verify(token).instanceId).toBe('i-1');
      clock += 1;
      expect(errorCode(() => tokens.verify(token))).toBe(AdaptersErrorCode.CallbackTokenExpired);
    });

    it('reports a forged expired token as invalid, not expired', () => {
      const tokens = new CallbackTokenService({ keys: [{ id: 'k1', secret: secret() }], now });
      const [payload, keyId, signature] = tokens
        .issue({ instanceId: 'i-1', waitState: 'w', ...bound, ttlMs: 1_000 })
        .split('.') as [string, string, string];
      clock += 5_000;

      expect(errorCode(() => tokens.verify(`${payload}.${keyId}.${flip(signature, 0)}`))).toBe(
        AdaptersErrorCode.CallbackTokenInvalid,
      );
    });
  });

  describe('having a bad configuration', () => {
    it.each([
      ['no keys', () => new CallbackTokenService({ keys: [] })],
      ['a short secret', () => new CallbackTokenService({ keys: [{ id: 'k1', secret: 'short' }] })],
      [
        'a duplicate key id',
        () =>
          new CallbackTokenService({
            keys: [
              { id: 'k1', secret: secret() },
              { id: 'k1', secret: secret() },
            ],
          }),
      ],
      [
        'a key id with a dot',
        () => new CallbackTokenService({ keys: [{ id: 'k.1', secret: secret() }] }),
      ],
      [
        'an expiry in the past',
        () =>
          new CallbackTokenService({ keys: [{ id: 'k1', secret: secret() }] }).issue({
            instanceId: 'i',
            waitState: 'w',
            ...bound,
            expiresAt: new Date(Date.now() - 1),
          }),
      ],
      [
        'no correlation key',
        () =>
          new CallbackTokenService({ keys: [{ id: 'k1', secret: secret() }] }).issue({
            instanceId: 'i',
            waitState: 'w',
            correlationKey: '',
            events: ['done'],
            ttlMs: 1_000,
          }),
      ],
      [
        'no events',
        () =>
          new CallbackTokenService({ keys: [{ id: 'k1', secret: secret() }] }).issue({
            instanceId: 'i',
            waitState: 'w',
            correlationKey: 'c',
            events: [],
            ttlMs: 1_000,
          }),
      ],
    ])('refuses %s', (_case, run) => {
      expect(errorCode(run)).toBe(AdaptersErrorCode.CallbackTokenConfigInvalid);
    });
  });
});
