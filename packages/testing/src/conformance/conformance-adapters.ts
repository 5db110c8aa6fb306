import { Input, OnResponse, Output, ServiceAdapter, UseService, WaitBinding } from '@psi/core';

/**
 * The service steps, wait states and transitions of the suite's standard processes. Every plugin
 * models the same three processes in its own language (a reference definition, BPMN XML, an
 * XState machine) with exactly these names, so the adapters below run unchanged on each.
 *
 * ```
 * order     place-order [service] → prepare [wait]
 *           prepare [wait] ──prepared──> await-confirmation [wait]
 *           await-confirmation ──confirmed──> book [service] → end
 *                              ──rejected───> end
 * page      page [service] → await-ack [wait]
 *           await-ack ──acked──> end
 *                     ──timeout──> escalated [wait] → end
 * dispatch  dispatch [service] → await-outcome [wait: one of many]
 *           await-outcome ──delivered──> end
 *                         ──returned───> refund [wait] → end
 * notice    await-notice [wait, no service step before it] ──noticed──> end
 * ```
 *
 * `notice` waits for an answer nobody requested (a notice about its `ref`): the suite's wait
 * binding ({@link NoticeWait}) says what it waits for, correlated by business key.
 *
 * A service step is left by a signal without a transition (the engine's default way out); so
 * are `escalated` and `refund`. No process catches faults.
 */
export const ConformanceNames = {
  order: {
    placeOrder: 'place-order',
    prepare: 'prepare',
    awaitConfirmation: 'await-confirmation',
    book: 'book',
  },
  page: { page: 'page', awaitAck: 'await-ack', escalated: 'escalated' },
  dispatch: { dispatch: 'dispatch', awaitOutcome: 'await-outcome', refund: 'refund' },
  notice: { awaitNotice: 'await-notice' },
  transitions: {
    prepared: 'prepared',
    confirmed: 'confirmed',
    rejected: 'rejected',
    acked: 'acked',
    timeout: 'timeout',
    delivered: 'delivered',
    returned: 'returned',
    noticed: 'noticed',
  },
} as const;

/** The process the suite starts; the harness maps it to its own definition. */
export type ConformanceProcess = 'order' | 'page' | 'dispatch' | 'notice';

/**
 * How long `page` waits for its ack before the timeout transition is taken: 3 days, passed on
 * the suite's test clock in no real time.
 */
export const PAGE_TIMEOUT_MS = 3 * 86_400_000;

/** The services the standard adapters call; the suite hosts them in-process. */
export const ConformanceServices = {
  supplier: 'conformance-supplier',
  erp: 'conformance-erp',
  pager: 'conformance-pager',
  courier: 'conformance-courier',
} as const;

/** A supplier that accepts an order now and confirms it later. */
export abstract class ConformanceSupplier {
  abstract placeOrder(order: { orderNumber: string }): Promise<void>;
}

/** An ERP that books an order and answers at once. */
export abstract class ConformanceErp {
  abstract book(order: { orderNumber: string }): Promise<{ bookingId: string }>;
}

/** A pager: pages someone, who acks later (or never). */
export abstract class ConformancePager {
  abstract page(request: { who: string }): Promise<void>;
}

/** A courier: takes a parcel; later it is delivered or returned. */
export abstract class ConformanceCourier {
  abstract dispatch(request: { parcel: string }): Promise<void>;
}

/** The supplier's answer at `await-confirmation`. */
export interface OrderConfirmation {
  accepted: boolean;
  confirmationId?: string;
}

/** `order` / place-order: sends the order; the confirmation is delivered at await-confirmation. */
@ServiceAdapter({ step: ConformanceNames.order.placeOrder, service: ConformanceServices.supplier })
export class PlaceOrderAdapter {
  @Input() orderNumber!: string;
  @Output() confirmationId?: string;
  @UseService(ConformanceSupplier) supplier!: ConformanceSupplier;

  async callService(): Promise<void> {
    await this.supplier.placeOrder({ orderNumber: this.orderNumber });
  }

  @OnResponse('order-confirmed', { waitState: ConformanceNames.order.awaitConfirmation })
  confirmed(answer: OrderConfirmation): string {
    if (!answer.accepted) return ConformanceNames.transitions.rejected;
    this.confirmationId = answer.confirmationId;
    return ConformanceNames.transitions.confirmed;
  }
}

/** `order` / book: a synchronous reply written to `bookingId`. */
@ServiceAdapter({ step: ConformanceNames.order.book, service: ConformanceServices.erp })
export class BookOrderAdapter {
  @Input() orderNumber!: string;
  @Output() bookingId?: string;
  @UseService(ConformanceErp) erp!: ConformanceErp;

  async callService(): Promise<void> {
    this.bookingId = (await this.erp.book({ orderNumber: this.orderNumber })).bookingId;
  }
}

/** `page` / page: the ack races a timeout; the timeout takes the `timeout` transition. */
@ServiceAdapter({ step: ConformanceNames.page.page, service: ConformanceServices.pager })
export class PageAdapter {
  @Input() who!: string;
  @Output() answeredBy?: string;
  @UseService(ConformancePager) pager!: ConformancePager;

  async callService(): Promise<void> {
    await this.pager.page({ who: this.who });
  }

  @OnResponse('ack', {
    waitState: ConformanceNames.page.awaitAck,
    timeoutMs: PAGE_TIMEOUT_MS,
    timeoutTransition: ConformanceNames.transitions.timeout,
  })
  ack(answer: { by: string }): string {
    this.answeredBy = answer.by;
    return ConformanceNames.transitions.acked;
  }
}

/** `dispatch` / dispatch: one of two answers (a group); the first closes the other. */
@ServiceAdapter({ step: ConformanceNames.dispatch.dispatch, service: ConformanceServices.courier })
export class DispatchAdapter {
  @Input() parcel!: string;
  @Output() outcome?: string;
  @UseService(ConformanceCourier) courier!: ConformanceCourier;

  async callService(): Promise<void> {
    await this.courier.dispatch({ parcel: this.parcel });
  }

  @OnResponse('delivered', { waitState: ConformanceNames.dispatch.awaitOutcome, group: 'outcome' })
  delivered(answer: { by: string }): string {
    this.outcome = `delivered by ${answer.by}`;
    return ConformanceNames.transitions.delivered;
  }

  @OnResponse('returned', { waitState: ConformanceNames.dispatch.awaitOutcome, group: 'outcome' })
  returned(answer: { reason: string }): string {
    this.outcome = `returned: ${answer.reason}`;
    return ConformanceNames.transitions.returned;
  }
}

/** A notice about an instance's `ref`, sent by someone PSI never called. */
export interface Notice {
  ref: string;
  by: string;
}

/**
 * `notice` / await-notice: the wait binding of a wait state no service step comes before. The
 * answer is correlated by the payload's `ref` against the instance's variable `ref`.
 */
@WaitBinding()
export class NoticeWait {
  @Output() noticedBy?: string;

  @OnResponse('notice', {
    waitState: ConformanceNames.notice.awaitNotice,
    businessKey: { ref: 'ref' },
  })
  noticed(answer: Notice): string {
    this.noticedBy = answer.by;
    return ConformanceNames.transitions.noticed;
  }
}

/** The wait bindings of the standard processes. */
export const conformanceWaitBindings = [NoticeWait] as const;

/** Every adapter of the standard processes. */
export const conformanceAdapters = [
  PlaceOrderAdapter,
  BookOrderAdapter,
  PageAdapter,
  DispatchAdapter,
] as const;
