/**
 * Issue 16, item 14, over real HTTP on loopback into a real coordinator, on each store: ids,
 * keys and event names too long, control characters, payloads nested too deep are refused at the
 * edge with a typed 400 (never a 500), alike on SQLite and PostgreSQL; nothing is stored; the
 * next valid answer is delivered.
 */
import { randomBytes } from 'node:crypto';
import { HttpInboundServer } from '@psi/adapters';
import { Input, OnResponse, Output, PsiErrorCode, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsString } from 'class-validator';
import { Agent, request } from 'undici';
import { describeEachStore, openHarness, useTempDir, type Harness } from '../correlation/fixtures';

class Confirmation {
  @IsString() orderNumber!: string;
  @IsString() confirmationId!: string;
}

@ServiceAdapter({ step: 'send-order', service: 'supplier' })
class SendOrderAdapter {
  @Input() @IsString() orderNumber!: string;
  @Output() confirmationId?: string;
  @UseService() supplier!: { place(order: { orderNumber: string }): Promise<void> };

  async callService(): Promise<void> {
    await this.supplier.place({ orderNumber: this.orderNumber });
  }

  @OnResponse('confirmed', {
    waitState: 'await-confirmation',
    payload: Confirmation,
    businessKey: { orderNumber: 'orderNumber' },
  })
  confirmed(answer: Confirmation): string {
    this.confirmationId = answer.confirmationId;
    return 'confirmed';
  }
}

const orderProcess = defineProcess({
  id: 'order',
  start: 'send-order',
  steps: {
    'send-order': { kind: 'service', next: 'await-confirmation' },
    'await-confirmation': { kind: 'wait', transitions: { confirmed: 'done' } },
    done: { kind: 'end' },
  },
});

/** `{ a: { a: … } }`, `depth` objects deep, built without recursion. */
function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

/** The same nesting as JSON text, for depths JSON.stringify cannot write. */
function nestedJson(depth: number): string {
  return `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;
}

const MARKER = 'echo-marker-7q';

describeEachStore('inbound limits at the HTTP edge', () => {
  const dir = useTempDir('psi-edge-limits-');
  const client = new Agent();
  const bearerToken = randomBytes(24).toString('base64url');
  let harness: Harness;
  let inbound: HttpInboundServer;
  let logged: Array<{ level: string; message: string }>;

  beforeEach(async () => {
    logged = [];
    harness = await openHarness({
      file: dir.file(),
      definitions: [orderProcess],
      adapters: [SendOrderAdapter],
      services: { supplier: { place: () => undefined } },
      registry: { supplier: { transport: 'in-process', address: 'supplier' } },
    });
    inbound = new HttpInboundServer({
      sink: harness.coordinator,
      bearerToken,
      log: {
        warn: (message) => logged.push({ level: 'warn', message }),
        error: (message) => logged.push({ level: 'error', message }),
      },
    });
    await inbound.start();
    await harness.engine.start('order', { orderNumber: 'PO-1' }, { instanceId: 'order-1' });
    await harness.atStep('order-1', 'await-confirmation');
  });

  afterEach(async () => {
    await inbound.close();
    await harness.close();
  });

  afterAll(() => client.close());

  async function postMessage(
    body: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
    const response = await request(`${inbound.url}/messages`, {
      method: 'POST',
      dispatcher: client,
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${bearerToken}`,
        ...headers,
      },
      body,
    });
    const text = await response.body.text();
    return { status: response.statusCode, body: JSON.parse(text) as Record<string, unknown>, text };
  }

  const confirmation = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    event: 'confirmed',
    payload: { orderNumber: 'PO-1', confirmationId: 'C-1' },
    ...extra,
  });

  const stored = async (): Promise<number[]> =>
    Promise.all(
      ['psi_parked_message', 'psi_dead_letter', 'psi_inbound_message'].map(
        async (table) =>
          (await harness.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`)).map((r) =>
            Number(r.n),
          )[0]!,
      ),
    );

  it.each([
    [
      'a NUL in the message id',
      JSON.stringify(confirmation({ messageId: `m\u0000${MARKER}` })),
      PsiErrorCode.MessageInvalid,
    ],
    [
      'a NUL in the correlation key',
      JSON.stringify(confirmation({ correlationKey: `k\u0000${MARKER}` })),
      PsiErrorCode.MessageInvalid,
    ],
    [
      'a control character in the event name',
      JSON.stringify({ ...confirmation(), event: `confirmed\u0007${MARKER}` }),
      PsiErrorCode.MessageInvalid,
    ],
    [
      'a message id of 3,000 bytes',
      JSON.stringify(confirmation({ messageId: MARKER + 'm'.repeat(3_000) })),
      PsiErrorCode.MessageLimitExceeded,
    ],
    [
      'a message id of 500 KB',
      JSON.stringify(confirmation({ messageId: MARKER + 'm'.repeat(500_000) })),
      PsiErrorCode.MessageLimitExceeded,
    ],
    [
      'a correlation key of 3,000 bytes',
      JSON.stringify(confirmation({ correlationKey: MARKER + 'k'.repeat(3_000) })),
      PsiErrorCode.MessageLimitExceeded,
    ],
    [
      'an event name of 300 bytes',
      JSON.stringify({ ...confirmation(), event: MARKER + 'e'.repeat(300) }),
      PsiErrorCode.MessageLimitExceeded,
    ],
    [
      'a business key of 3,000 bytes (taken from the payload)',
      JSON.stringify({
        event: 'confirmed',
        payload: { orderNumber: MARKER + 'o'.repeat(3_000), confirmationId: 'C-1' },
      }),
      PsiErrorCode.MessageLimitExceeded,
    ],
    [
      'a payload field nested 1,500 deep',
      JSON.stringify({
        event: 'confirmed',
        payload: { orderNumber: 'PO-1', confirmationId: 'C-1', extra: nested(1_500) },
      }),
      PsiErrorCode.MessageLimitExceeded,
    ],
    [
      'a payload nested 10,000 deep',
      `{"event":"confirmed","payload":${nestedJson(10_000)}}`,
      PsiErrorCode.MessageLimitExceeded,
    ],
  ])(
    'refuses %s with a typed 400; nothing is stored; the next answer is delivered',
    async (_case, body, code) => {
      const refused = await postMessage(body);

      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ code, message: expect.any(String) });
      expect(refused.text).not.toContain(MARKER);
      expect(await stored()).toEqual([0, 0, 0]);

      const valid = await postMessage(JSON.stringify(confirmation()));

      expect(valid.body).toMatchObject({ outcome: { status: 'delivered', instanceId: 'order-1' } });
      expect((await harness.engine.whenEnded('order-1')).variables.confirmationId).toBe('C-1');
      expect(logged).toEqual([]);
    },
  );

  it('accepts ids and keys right at the limits', async () => {
    const answer = await postMessage(
      JSON.stringify(confirmation({ messageId: 'm'.repeat(512), correlationKey: 'k'.repeat(512) })),
    );

    // No expectation has that correlation key: matched by business key instead.
    expect(answer.body).toMatchObject({ outcome: { status: 'delivered' } });
  });
});
