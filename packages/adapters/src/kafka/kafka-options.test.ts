import pino from 'pino';
import { compileKafkaConnection } from './kafka-options';

describe('compileKafkaConnection', () => {
  describe('having a PSI logger and no logCreator', () => {
    it("routes kafkajs' own log entries to the logger, at their level, with the namespace", () => {
      const { logger, lines } = memoryPino('info');
      const config = compileKafkaConnection({ brokers: ['127.0.0.1:9092'], logger });
      const log = config.logCreator!(1)!;
      log({
        namespace: 'Connection',
        level: 1,
        label: 'ERROR',
        log: {
          timestamp: 't',
          logger: 'kafkajs',
          message: 'Connection error',
          broker: 'b:1',
          password: 'p',
        },
      });
      log({
        namespace: 'Consumer',
        level: 5,
        label: 'DEBUG',
        log: { timestamp: 't', logger: 'kafkajs', message: 'fetch' },
      });
      expect(lines).toEqual([
        expect.objectContaining({
          level: 50,
          msg: 'Connection error',
          transport: 'kafka',
          namespace: 'Connection',
          broker: 'b:1',
          password: '[Redacted]',
        }),
      ]);
      expect(lines[0]).not.toHaveProperty('timestamp');
    });
  });
});

function memoryPino(level: string): {
  logger: pino.Logger;
  lines: Array<Record<string, unknown>>;
} {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level }, { write: (chunk: string) => void lines.push(JSON.parse(chunk)) });
  return { logger, lines };
}
