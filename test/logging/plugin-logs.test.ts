/**
 * Issue 18, logs: transports and engines take the same pino-compatible logger as the
 * coordinator. A send is one debug line bound to the request; an engine's background failures
 * reach the logger too (kafkajs' entries: kafka-options.test.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpTransport, InProcessTransport } from '@psi/adapters';
import { defineProcess, ReferenceEngine } from '@psi/engines';
import pino from 'pino';

interface Line {
  level: number;
  msg: string;
  [key: string]: unknown;
}

function memoryPino(level = 'debug'): { logger: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const logger = pino(
    { level },
    { write: (chunk: string) => void lines.push(JSON.parse(chunk) as Line) },
  );
  return { logger, lines };
}

const request = {
  requestId: 'inv-1:1',
  service: 'courier',
  operation: 'ship',
  payload: { address: 'Main Street 1', apiKey: 'k-123' },
  correlationKey: 'ck-1',
  instanceId: 'i-1',
};

describe('transport and engine logs (pino)', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((done) => (server ? server.close(() => done()) : done())));

  it('HttpTransport logs each send at debug, bound to the request, over loopback HTTP', async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(202).end());
    });
    await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    const { logger, lines } = memoryPino();
    const transport = new HttpTransport({
      logger,
      headers: { authorization: 'Bearer service-token-xyz' },
    });
    await transport.start({ receive: async () => ({ status: 'duplicate' }) });
    const result = await transport.send(request, {
      service: 'courier',
      transport: 'http',
      address: `http://127.0.0.1:${port}`,
    });
    await transport.stop();
    expect(result).toEqual({ kind: 'accepted' });
    expect(lines).toEqual([
      expect.objectContaining({
        level: 20,
        msg: 'request sent',
        transport: 'http',
        instanceId: 'i-1',
        correlationKey: 'ck-1',
        messageId: 'inv-1:1',
        service: 'courier',
        operation: 'ship',
        result: 'accepted',
        durationMs: expect.any(Number),
      }),
    ]);
    expect(JSON.stringify(lines)).not.toMatch(/Main Street|k-123|service-token-xyz/);
  });

  it('InProcessTransport logs a failed send at debug with the error, and nothing at info', async () => {
    const debug = memoryPino('debug');
    const info = memoryPino('info');
    for (const { logger } of [debug, info]) {
      const transport = new InProcessTransport({ logger }).register('courier', {
        ship: () => {
          throw new Error('no trucks');
        },
      });
      await expect(
        transport.send(request, {
          service: 'courier',
          transport: 'in-process',
          address: 'courier',
        }),
      ).rejects.toThrow('no trucks');
    }
    expect(debug.lines).toEqual([
      expect.objectContaining({
        msg: 'request failed',
        transport: 'in-process',
        messageId: 'inv-1:1',
        err: expect.objectContaining({ message: expect.stringContaining('no trucks') }),
      }),
    ]);
    expect(info.lines).toEqual([]);
  });

  it("logs an engine's background failures (a throwing listener) to the logger", async () => {
    const { logger, lines } = memoryPino('info');
    const engine = new ReferenceEngine({
      logger,
      definitions: [
        defineProcess({
          id: 'p',
          start: 'w',
          steps: { w: { kind: 'wait', transitions: { go: 'end' } }, end: { kind: 'end' } },
        }),
      ],
    });
    await engine.restore();
    engine.subscribe(() => {
      throw new Error('listener broke');
    });
    await engine.start('p', {});
    await engine.stop();
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 50,
        engine: 'reference engine',
        msg: 'reference engine: background failure',
        err: expect.objectContaining({ message: 'listener broke' }),
      }),
    );
  });
});
