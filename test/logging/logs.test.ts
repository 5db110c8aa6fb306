import { psiLogger, type Coordinator, type PsiLoggerOption } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { IsString } from 'class-validator';
import pino from 'pino';
import { openHarness, RecordingService, useTempDir, type Harness } from '../correlation/fixtures';

// Issue 18, logs: the coordinator writes its flow steps to a pino logger, each line bound to
// the instance, invocation, correlation key, message and event it is about; payloads are
// redacted unless the application opts out. Real pino, writing JSON lines to memory.

interface Line {
  level: number;
  msg: string;
  step?: string;
  instanceId?: string;
  invocationId?: string;
  correlationKey?: string;
  messageId?: string;
  event?: string;
  payload?: unknown;
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

abstract class Collector {
  abstract open(request: { batch: string; apiToken: string }): Promise<void>;
}

class Item {
  @IsString() name!: string;
}

@ServiceAdapter({ step: 'open-batch', service: 'collector' })
class CollectAdapter {
  @Input() @IsString() batch!: string;
  @Output() item?: string;
  @UseService(Collector) collector!: Collector;

  async callService(): Promise<void> {
    await this.collector.open({ batch: this.batch, apiToken: 'Bearer s3cr3t-t0ken' });
  }

  @OnResponse('item', { waitState: 'collect', payload: Item })
  received(item: Item): string {
    this.item = item.name;
    return 'done';
  }
}

const collectProcess = defineProcess({
  id: 'collect',
  start: 'open-batch',
  steps: {
    'open-batch': { kind: 'service', next: 'prepare' },
    // A manual step: an answer arriving while the instance is here is parked.
    prepare: { kind: 'wait', transitions: { ready: 'collect' } },
    collect: { kind: 'wait', transitions: { done: 'done' } },
    done: { kind: 'end' },
  },
});

describe('logs (pino)', () => {
  const temp = useTempDir('psi-logs-');
  let h: Harness | undefined;
  afterEach(() => h?.close());

  async function scriptedCorrelation(logger: PsiLoggerOption): Promise<{
    id: string;
    coordinator: Coordinator;
  }> {
    const collector = new RecordingService({ open: undefined });
    h = await openHarness({
      file: temp.file(),
      definitions: [collectProcess],
      adapters: [CollectAdapter],
      services: { collector: collector.service },
      registry: { collector: { transport: 'in-process', address: 'collector' } },
      coordinator: { logger },
    });
    const id = await h.engine.start('collect', { batch: 'B-1' });
    await h.atStep(id, 'prepare');
    // The early answer: parked, since the instance is not at "collect" yet.
    const outcome = await collector
      .last('open')
      .respond('item', { name: 'pallet' }, { messageId: 'msg-1' });
    expect(outcome).toMatchObject({ status: 'parked' });
    await h.engine.signal(id, 'prepare', { transition: 'ready' });
    expect((await h.engine.whenEnded(id)).status).toBe('completed');
    await h.coordinator.idle();
    return { id, coordinator: h.coordinator };
  }

  it('binds each flow line to its instance, invocation, correlation key, message id and event (early answer parked, then delivered)', async () => {
    const { logger, lines } = memoryPino('debug');
    const { id } = await scriptedCorrelation(logger);
    const [invocation] = await h!.coordinator.invocations({ instanceId: id });
    const sent = lines.find((l) => l.step === 'sent')!;
    expect(sent).toMatchObject({
      level: 20,
      msg: 'invocation sent',
      instanceId: id,
      invocationId: invocation!.id,
      correlationKey: expect.any(String),
    });
    const key = sent.correlationKey;
    const steps = lines
      .filter((l) => ['received', 'parked', 'released', 'delivered'].includes(l.step ?? ''))
      .map((l) => ({
        step: l.step,
        msg: l.msg,
        instanceId: l.instanceId,
        invocationId: l.invocationId,
        correlationKey: l.correlationKey,
        messageId: l.messageId,
        event: l.event,
      }));
    const bound = { correlationKey: key, messageId: 'msg-1', event: 'item' };
    expect(steps).toEqual([
      {
        step: 'received',
        msg: 'answer received',
        ...bound,
        instanceId: undefined,
        invocationId: undefined,
      },
      {
        step: 'parked',
        msg: 'answer parked',
        ...bound,
        instanceId: id,
        invocationId: invocation!.id,
      },
      {
        step: 'released',
        msg: 'parked answer released',
        ...bound,
        instanceId: id,
        invocationId: invocation!.id,
      },
      {
        step: 'delivered',
        msg: 'answer delivered',
        ...bound,
        instanceId: id,
        invocationId: invocation!.id,
      },
    ]);
  });

  it('writes only the levels the logger has on: at info, no per-message debug lines', async () => {
    const { logger, lines } = memoryPino('info');
    await scriptedCorrelation(logger);
    expect(lines.filter((l) => l.level < 30)).toEqual([]);
    expect(lines.map((l) => l.step)).not.toContain('sent');
  });

  it('redacts payloads and bearer tokens by default, and not when the application opts out', async () => {
    const redacted = memoryPino('debug');
    await scriptedCorrelation(redacted.logger);
    const sent = redacted.lines.find((l) => l.step === 'sent')!;
    expect(sent.payload).toBe('[Redacted]');
    expect(JSON.stringify(redacted.lines)).not.toContain('s3cr3t-t0ken');
    expect(JSON.stringify(redacted.lines)).not.toContain('pallet');
    await h!.close();
    h = undefined;

    const open = memoryPino('debug');
    await scriptedCorrelation(psiLogger(open.logger, { redact: false }));
    const sentOpen = open.lines.find((l) => l.step === 'sent')!;
    expect(sentOpen.payload).toEqual({ batch: 'B-1', apiToken: 'Bearer s3cr3t-t0ken' });
  });

  it('still takes the older message-first logger (warn/error, optional info/debug)', async () => {
    const seen: Array<[string, string, unknown]> = [];
    await scriptedCorrelation({
      warn: (message, detail) => seen.push(['warn', message, detail]),
      error: (message, detail) => seen.push(['error', message, detail]),
      debug: (message, detail) => seen.push(['debug', message, detail]),
    });
    expect(seen.filter(([level]) => level !== 'debug')).toEqual([]);
    const parked = seen.find(([, message]) => message === 'answer parked');
    expect(parked?.[2]).toMatchObject({ step: 'parked', messageId: 'msg-1', event: 'item' });
  });
});
