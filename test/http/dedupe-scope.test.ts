import { randomBytes } from 'node:crypto';
import { CallbackTokenService, HttpInboundServer } from '@psi/adapters';
import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { defineProcess } from '@psi/engines';
import { Agent, request } from 'undici';
import {
  describeEachStore,
  openHarness,
  RecordingService,
  useTempDir,
  type Harness,
} from '../correlation/fixtures';

// Issue 16.13 through the real inbound server on loopback: message ids are scoped by the
// channel the server vouches for. A callback-token holder who sends under a supplier's message
// id (x-psi-message-id) no longer makes the supplier's real answer to POST /messages a
// duplicate: the callback's ids are its token's, the messages route's are its own.

abstract class Supplier {
  abstract order(request: { item: string }): Promise<void>;
}

@ServiceAdapter({ step: 'order', service: 'supplier' })
class OrderAdapter {
  @Input() item!: string;
  @Output() confirmedBy?: string;
  @UseService(Supplier) supplier!: Supplier;

  async callService(): Promise<void> {
    await this.supplier.order({ item: this.item });
  }

  @OnResponse('confirmed', { waitState: 'await-confirmation' })
  confirmed(answer: { by: string }): string {
    this.confirmedBy = answer.by;
    return 'confirmed';
  }
}

const orderProcess = defineProcess({
  id: 'order',
  start: 'order',
  steps: {
    order: { kind: 'service', next: 'await-confirmation' },
    'await-confirmation': { kind: 'wait', transitions: { confirmed: 'done' } },
    done: { kind: 'end' },
  },
});

describeEachStore('dedupe scope over HTTP', () => {
  const temp = useTempDir();
  const client = new Agent();
  const tokens = new CallbackTokenService({ keys: [{ id: 'k1', secret: randomBytes(32) }] });
  const BEARER = randomBytes(24).toString('hex');
  let h: Harness;
  let server: HttpInboundServer;
  let url: string;
  let supplier: RecordingService;

  beforeEach(async () => {
    supplier = new RecordingService({ order: undefined });
    h = await openHarness({
      file: temp.file(),
      definitions: [orderProcess],
      adapters: [OrderAdapter],
      services: { supplier: supplier.service },
      registry: { supplier: { transport: 'in-process', address: 'supplier' } },
    });
    server = new HttpInboundServer({
      sink: h.coordinator,
      engine: h.engine,
      tokens,
      bearerToken: BEARER,
    });
    ({ url } = await server.start());
  });
  afterEach(async () => {
    await server.close();
    await h.close();
  });
  afterAll(() => client.close());

  async function post(path: string, body: unknown, messageId: string): Promise<unknown> {
    const response = await request(`${url}${path}`, {
      method: 'POST',
      dispatcher: client,
      headers: {
        'content-type': 'application/json',
        'x-psi-message-id': messageId,
        authorization: `Bearer ${BEARER}`,
      },
      body: JSON.stringify(body),
    });
    // The messages route acknowledges with 202; a callback answers 200 once delivered.
    expect(response.statusCode).toBe(path.startsWith('/callbacks/') ? 200 : 202);
    return ((await response.body.json()) as { outcome: unknown }).outcome;
  }

  it("a callback under the supplier's message id does not make the supplier's answer a duplicate", async () => {
    const victim = await h.engine.start('order', { item: 'bolts' });
    const holder = await h.engine.start('order', { item: 'nuts' });
    await h.atStep(victim, 'await-confirmation');
    await h.atStep(holder, 'await-confirmation');
    const keyOf = (item: string): string =>
      supplier.calls.find((c) => (c.payload as { item: string }).item === item)!.context
        .correlationKey;

    // The token holder answers its own instance, under the id the supplier will use.
    const token = tokens.issue({
      instanceId: holder,
      waitState: 'await-confirmation',
      correlationKey: keyOf('nuts'),
      events: ['confirmed'],
      ttlMs: 60_000,
    });
    expect(
      await post(
        `/callbacks/${token}`,
        { event: 'confirmed', data: { by: 'holder' } },
        'supplier-77',
      ),
    ).toMatchObject({ status: 'delivered', instanceId: holder });

    // The supplier's real answer, same id, through POST /messages: delivered.
    expect(
      await post(
        '/messages',
        { event: 'confirmed', correlationKey: keyOf('bolts'), payload: { by: 'supplier' } },
        'supplier-77',
      ),
    ).toMatchObject({ status: 'delivered', instanceId: victim });
    expect((await h.engine.whenEnded(victim)).variables.confirmedBy).toBe('supplier');
    expect(
      await h.query<{ sender: string }>('SELECT sender FROM psi_inbound_message ORDER BY sender'),
    ).toEqual([{ sender: 'http' }, { sender: expect.stringMatching(/^http-callback:/) }]);

    // A retry of the supplier's answer is still a duplicate.
    expect(
      await post(
        '/messages',
        { event: 'confirmed', correlationKey: keyOf('bolts'), payload: { by: 'supplier' } },
        'supplier-77',
      ),
    ).toEqual({ status: 'duplicate' });
  });
});
