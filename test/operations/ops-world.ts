import {
  Input,
  OnResponse,
  Output,
  ServiceAdapter,
  TransportTechnicalError,
  UseService,
  type OperatorContext,
} from '@psi/core';
import { defineProcess } from '@psi/engines';
import { IsString } from 'class-validator';
import { openHarness, RecordingService, waitUntil, type Harness } from '../correlation/fixtures';
import type { StoreLocation } from '../foundation/test-stores';

// A small world with every kind of record operators look at: open expectations with deadlines,
// answers parked for an instance not yet ready and for no expectation at all, dead letters of
// several reasons, a frozen invocation and held guards. Used by the operations API tests.

abstract class Supplier {
  abstract placeOrder(order: { orderNumber: string }): Promise<void>;
}
abstract class Erp {
  abstract book(order: { orderNumber: string }): Promise<void>;
}

export class Confirmation {
  @IsString() orderNumber!: string;
  @IsString() confirmationId!: string;
}

/** Flipped by tests: the confirmation handler's collaborator is down. */
export const handlerState = { broken: false };
/** Flipped by tests: the ERP is down (its invocations freeze). */
export const erpState = { down: true };

/** Handler side effects by order number: a handler that ran twice shows up here. */
export const sideEffects = new Map<string, number>();

@ServiceAdapter({ step: 'send', service: 'supplier' })
export class SendAdapter {
  @Input() @IsString() orderNumber!: string;
  @Output() confirmationId?: string;
  @UseService(Supplier) supplier!: Supplier;

  async callService(): Promise<void> {
    await this.supplier.placeOrder({ orderNumber: this.orderNumber });
  }

  @OnResponse('confirmed', {
    waitState: 'await',
    payload: Confirmation,
    businessKey: { orderNumber: 'orderNumber' },
    timeoutMs: 3_600_000,
    timeoutTransition: 'timed-out',
  })
  confirmed(answer: Confirmation): string {
    if (handlerState.broken) throw new Error('confirmation store unavailable');
    sideEffects.set(answer.orderNumber, (sideEffects.get(answer.orderNumber) ?? 0) + 1);
    this.confirmationId = answer.confirmationId;
    return 'confirmed';
  }
}

@ServiceAdapter({ step: 'book', service: 'erp' })
export class BookAdapter {
  @Input() @IsString() orderNumber!: string;
  @UseService(Erp) erp!: Erp;

  async callService(): Promise<void> {
    await this.erp.book({ orderNumber: this.orderNumber });
  }
}

export const orderProcess = defineProcess({
  id: 'order',
  start: 'send',
  steps: {
    send: { kind: 'service', next: 'hold' },
    // A manual step before the wait: answers arriving now are parked (instance not ready).
    hold: { kind: 'wait', transitions: { go: 'await' } },
    await: { kind: 'wait', transitions: { confirmed: 'done', 'timed-out': 'late' } },
    done: { kind: 'end' },
    late: { kind: 'end' },
  },
});

export const bookProcess = defineProcess({
  id: 'booking',
  start: 'book',
  steps: { book: { kind: 'service', next: 'booked' }, booked: { kind: 'end' } },
});

export const operator = (actor = 'alice', channel = 'api'): OperatorContext => ({
  actor,
  reason: `test by ${actor}`,
  channel,
});

export interface OpsWorld {
  h: Harness;
  supplier: RecordingService;
  /** Correlation key of each order's supplier call. */
  keys: Map<string, string>;
  /** Starts an order and waits until it rests at `hold` (its expectation recorded). */
  startOrder(orderNumber: string): Promise<string>;
  /** Waits until the instance ended at `step`. */
  endsAt(instanceId: string, step: string): Promise<void>;
  /** Moves an order from `hold` to `await`. */
  proceed(instanceId: string): Promise<void>;
  confirm(
    orderNumber: string,
    confirmationId?: string,
    messageId?: string,
  ): ReturnType<Harness['coordinator']['receive']>;
}

export async function openOpsWorld(
  file: StoreLocation,
  coordinator: Parameters<typeof openHarness>[0]['coordinator'] = {},
): Promise<OpsWorld> {
  const supplier = new RecordingService({ placeOrder: () => undefined });
  const erp = new RecordingService({
    book: () => {
      if (erpState.down) throw new TransportTechnicalError('503 ERP down');
      return undefined;
    },
  });
  const h = await openHarness({
    file,
    definitions: [orderProcess, bookProcess],
    adapters: [SendAdapter, BookAdapter],
    services: { supplier: supplier.service, erp: erp.service },
    registry: {
      supplier: { transport: 'in-process', address: 'supplier' },
      erp: {
        transport: 'in-process',
        address: 'erp',
        retry: { maxAttempts: 1, initialDelayMs: 1 },
      },
    },
    coordinator: { operations: { pollMs: 50 }, ...coordinator },
  });
  const keys = new Map<string, string>();
  const world: OpsWorld = {
    h,
    supplier,
    keys,
    async startOrder(orderNumber) {
      const instanceId = `order-${orderNumber}`;
      await h.engine.start(orderProcess.id, { orderNumber }, { instanceId });
      await h.atStep(instanceId, 'hold');
      await h.coordinator.idle();
      const call = supplier.calls.find(
        (c) => (c.payload as { orderNumber: string }).orderNumber === orderNumber,
      );
      if (!call) throw new Error(`no supplier call for ${orderNumber}`);
      keys.set(orderNumber, call.context.correlationKey);
      return instanceId;
    },
    async endsAt(instanceId, step) {
      await waitUntil(async () => {
        const snapshot = await h.engine.getInstance(instanceId);
        return snapshot.currentStep === undefined && snapshot.history.at(-1) === step;
      }, `instance ${instanceId} ended at "${step}"`);
    },
    async proceed(instanceId) {
      await h.engine.signal(instanceId, 'hold', { transition: 'go' });
      await h.atStep(instanceId, 'await');
      await h.coordinator.idle();
    },
    confirm(orderNumber, confirmationId = `C-${orderNumber}`, messageId) {
      return h.coordinator.receive({
        messageId,
        event: 'confirmed',
        payload: { orderNumber, confirmationId },
      });
    },
  };
  return world;
}

export { waitUntil };
