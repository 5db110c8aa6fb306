import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fastOptions, uniqueName, useMockKafka } from '../../test/kafka/kafka-test-kit';
import { DemoUsageError, parseDemoArgs } from './demo-options';
import { PROCUREMENT_PATH } from './procurement-scenario';
import { runProcurement, type ProcurementRun } from './run-procurement';

jest.setTimeout(60_000);

describe('sample: procurement demo wiring', () => {
  const kafka = useMockKafka();
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-procurement-demo-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** What every transport must achieve: the early confirmation parked, then delivered; ERP booked. */
  function expectCompletedOrder(run: ProcurementRun, transport: string): void {
    expect(run.final.status).toBe('completed');
    expect(run.final.history).toEqual(PROCUREMENT_PATH);
    expect(run.final.variables).toMatchObject({
      confirmationId: expect.stringMatching(/^CONF-/),
      erpDocumentId: expect.stringMatching(/^ERP-\d+$/),
    });
    const kinds = run.trace.map((event) => event.kind);
    expect(kinds).toEqual(expect.arrayContaining(['sent', 'received', 'parked', 'delivered']));
    const supplierCall = run.trace.find(
      (event) => event.kind === 'sent' && event.detail?.service === 'supplier',
    );
    expect(supplierCall?.detail).toMatchObject({ transport, answer: 'later' });
    expect(run.deadLetters).toEqual([]);
  }

  it('runs the supplier and the ERP over HTTP on loopback, twice on the same store', async () => {
    const sqlitePath = path.join(dir, 'http.sqlite');
    const lines: string[] = [];

    const first = await runProcurement({
      sqlitePath,
      transport: 'http',
      print: (line) => lines.push(line),
    });
    const second = await runProcurement({ sqlitePath, transport: 'http' });

    expectCompletedOrder(first, 'http');
    expectCompletedOrder(second, 'http');
    expect(second.instanceId).not.toBe(first.instanceId);
    expect(first.wiring).toMatch(/^supplier and ERP over HTTP at http:\/\/127\.0\.0\.1:\d+; /);
    const erpCall = first.trace.find(
      (event) => event.kind === 'sent' && event.detail?.service === 'erp',
    );
    expect(erpCall?.detail).toMatchObject({ transport: 'http', answer: 'synchronous reply' });
    expect(lines.some((line) => line.includes('manual step   order printed and archived'))).toBe(
      true,
    );
  });

  it('runs the supplier as a Kafka service (mock broker), twice with the same groups', async () => {
    const sqlitePath = path.join(dir, 'kafka.sqlite');
    const { brokers, ...settings } = fastOptions(kafka.cluster);
    const prefix = uniqueName('procurement-demo');
    await kafka.probe.ensureTopics([`${prefix}-supplier-requests`, `${prefix}-replies`]);

    const first = await runProcurement({
      sqlitePath,
      transport: 'kafka',
      kafka: { brokers, prefix, settings },
    });
    const second = await runProcurement({
      sqlitePath,
      transport: 'kafka',
      kafka: { brokers, prefix, settings },
    });

    expectCompletedOrder(first, 'kafka');
    expectCompletedOrder(second, 'kafka');
    const received = first.trace.find((event) => event.kind === 'received');
    expect(received?.detail?.source).toMatch(new RegExp(`^kafka:${prefix}-replies/\\d+@\\d+$`));
  });

  it('runs in-process by default', async () => {
    const run = await runProcurement({ sqlitePath: path.join(dir, 'in-process.sqlite') });

    expectCompletedOrder(run, 'in-process');
  });

  describe(parseDemoArgs, () => {
    it('defaults to in-process and reads --transport in both spellings', () => {
      expect(parseDemoArgs([])).toEqual({ transport: 'in-process' });
      expect(parseDemoArgs(['--transport', 'http'])).toEqual({ transport: 'http' });
      expect(parseDemoArgs(['--transport=http'])).toEqual({ transport: 'http' });
    });

    it('takes the brokers from --brokers, else from KAFKA_BROKERS', () => {
      expect(
        parseDemoArgs(['--transport', 'kafka', '--brokers', 'a:9092, b:9092'], {
          KAFKA_BROKERS: 'ignored:1',
        }),
      ).toEqual({ transport: 'kafka', brokers: ['a:9092', 'b:9092'] });
      expect(parseDemoArgs(['--transport=kafka'], { KAFKA_BROKERS: 'k:9092' })).toEqual({
        transport: 'kafka',
        brokers: ['k:9092'],
      });
    });

    it('leaves the brokers unset for kafka without any (the demo then starts the mock cluster)', () => {
      expect(parseDemoArgs(['--transport', 'kafka'], {})).toEqual({ transport: 'kafka' });
      expect(parseDemoArgs(['--transport', 'kafka'], { KAFKA_BROKERS: ' , ' })).toEqual({
        transport: 'kafka',
      });
    });

    it('refuses unknown transports and arguments', () => {
      expect(captured(() => parseDemoArgs(['--transport', 'smtp']))).toBeInstanceOf(DemoUsageError);
      expect(captured(() => parseDemoArgs(['--verbose']))).toBeInstanceOf(DemoUsageError);
      expect(captured(() => parseDemoArgs(['--transport']))).toBeInstanceOf(DemoUsageError);
    });
  });
});

function captured(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  return undefined;
}
