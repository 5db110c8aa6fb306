import pino from 'pino';
import { psiLogger } from './prepared-logger';

function memoryPino(level = 'debug'): {
  logger: pino.Logger;
  lines: Array<Record<string, unknown>>;
} {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level }, { write: (chunk: string) => void lines.push(JSON.parse(chunk)) });
  return { logger, lines };
}

describe('psiLogger', () => {
  describe('having a pino logger', () => {
    it('redacts payloads, variables, credentials and bearer tokens in strings by default', () => {
      const { logger, lines } = memoryPino();
      psiLogger(logger).info(
        {
          payload: { card: '4111' },
          variables: { iban: 'DE00' },
          headers: { authorization: 'Bearer abc.def', cookie: 'sid=1', accept: 'json' },
          nested: { clientSecret: 'x', password: 'y', refreshToken: 'z', kept: 'k' },
          note: 'the caller sent Bearer abc.def here',
        },
        'received with Bearer abc.def',
      );
      expect(lines[0]).toMatchObject({
        msg: 'received with Bearer [Redacted]',
        payload: '[Redacted]',
        variables: '[Redacted]',
        headers: { authorization: '[Redacted]', cookie: '[Redacted]', accept: 'json' },
        nested: {
          clientSecret: '[Redacted]',
          password: '[Redacted]',
          refreshToken: '[Redacted]',
          kept: 'k',
        },
        note: 'the caller sent Bearer [Redacted] here',
      });
      expect(JSON.stringify(lines)).not.toContain('abc.def');
    });

    it('redacts child bindings too, and keeps them on every line of the child', () => {
      const { logger, lines } = memoryPino();
      const child = psiLogger(logger).child({ instanceId: 'i-1', token: 't' });
      child.warn('first');
      child.child({ event: 'e' }).error({ detail: 1 }, 'second');
      expect(lines).toEqual([
        expect.objectContaining({
          level: 40,
          msg: 'first',
          instanceId: 'i-1',
          token: '[Redacted]',
        }),
        expect.objectContaining({
          level: 50,
          msg: 'second',
          instanceId: 'i-1',
          event: 'e',
          detail: 1,
        }),
      ]);
    });

    it('takes extra keys, its own censor, or only its own keys; `redact: false` turns it off', () => {
      const { logger, lines } = memoryPino();
      psiLogger(logger, { redact: { keys: ['iban', /^card/], censor: '***' } }).info({
        iban: 'DE00',
        cardNumber: '4111',
        payload: 1,
      });
      psiLogger(logger, { redact: { keys: ['iban'], replaceDefaults: true } }).info({
        iban: 'DE00',
        payload: 1,
      });
      psiLogger(logger, { redact: false }).info({ payload: 1 }, 'Bearer abc');
      expect(
        lines.map(({ iban, cardNumber, payload, msg }) => ({ iban, cardNumber, payload, msg })),
      ).toEqual([
        { iban: '***', cardNumber: '***', payload: '***', msg: undefined },
        { iban: '[Redacted]', cardNumber: undefined, payload: 1, msg: undefined },
        { iban: undefined, cardNumber: undefined, payload: 1, msg: 'Bearer abc' },
      ]);
    });

    it('builds nothing for a level that is off', () => {
      const { logger, lines } = memoryPino('warn');
      const fields = {
        get payload(): unknown {
          throw new Error('read although debug is off');
        },
      };
      psiLogger(logger).debug(fields, 'off');
      psiLogger(logger).info('off too');
      expect(lines).toEqual([]);
    });

    it('uses a prepared logger as it is (its redaction choice holds)', () => {
      const { logger, lines } = memoryPino();
      const open = psiLogger(logger, { redact: false });
      expect(psiLogger(open)).toBe(open);
      psiLogger(open).info({ payload: 1 });
      expect(lines[0]).toMatchObject({ payload: 1 });
    });
  });

  describe('having a message-first logger (the older shape)', () => {
    it('passes the message first and the fields, with the bindings, as the detail', () => {
      const seen: unknown[] = [];
      const log = psiLogger({
        warn: (message, detail) => seen.push(['warn', message, detail]),
        error: (message, detail) => seen.push(['error', message, detail]),
      });
      log.child({ instanceId: 'i-1' }).warn({ payload: { a: 1 }, reason: 'r' }, 'look');
      log.error('plain');
      log.info('dropped: the logger has no info');
      log.fatal({ code: 'X' }, 'fatal goes to error');
      log.error({ err: { message: 'boom' } }, 'an error alone is the detail');
      expect(seen).toEqual([
        ['warn', 'look', { instanceId: 'i-1', payload: '[Redacted]', reason: 'r' }],
        ['error', 'plain', undefined],
        ['error', 'fatal goes to error', { code: 'X' }],
        ['error', 'an error alone is the detail', { message: 'boom' }],
      ]);
    });
  });
});
