import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseDemoArgs } from './demo-options';
import { runProcurement } from './run-procurement';
import { DemoTracing } from './span-tree';

jest.setTimeout(30_000);

describe('sample: procurement demo --trace', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-procurement-trace-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads --trace', () => {
    expect(parseDemoArgs(['--trace'])).toEqual({ transport: 'in-process', trace: true });
    expect(parseDemoArgs([])).toEqual({ transport: 'in-process' });
  });

  it('prints the order as a span tree: the parked answer released and delivered under its receive, linked to its request', async () => {
    const tracing = new DemoTracing();
    const run = await runProcurement({
      sqlitePath: path.join(dir, 'trace.sqlite'),
      observability: { tracerProvider: tracing.tracerProvider },
    });
    expect(run.final.status).toBe('completed');
    const tree = tracing
      .tree()
      .map((line) => line.replace(/ {2}\d+\.\d ms$/, ''))
      .filter((line) => !line.includes('erp'));
    await tracing.shutdown();
    expect(tree).toEqual([
      'invoke send-to-supplier [waiting]',
      '  send supplier [accepted]',
      '    receive order-confirmed [parked]',
      '      ↪ request: invoke send-to-supplier',
      '      park order-confirmed',
      '      release order-confirmed',
      '        ↪ request: invoke send-to-supplier',
      '        deliver order-confirmed [delivered]',
      '          ↪ request: invoke send-to-supplier',
    ]);
  });
});
