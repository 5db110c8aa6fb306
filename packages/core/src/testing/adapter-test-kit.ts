import { Container } from 'inversify';
import { readAdapterModel, type AdapterModel } from '../adapter/adapter-model';
import { AdapterRunner, type AdapterOutcome } from '../adapter/adapter-runner';
import type { Constructor } from '../adapter/metadata-keys';
import type { OnResponseOptions } from '../adapter/on-response.decorator';
import type { ResponseContext } from '../adapter/response-context';
import type { Variables } from '../spi/process-engine';

/** A fake of the adapter's service: operation name → implementation (return value = sync reply). */
export type FakeService = Record<string, (payload: unknown) => unknown>;

/** One call the adapter made to its service. */
export interface RecordedCall {
  operation: string;
  payload: unknown;
}

/** An answer the adapter expects: its handler options, with the business key values resolved. */
export interface ExpectedAnswer extends Omit<OnResponseOptions, 'businessKey'> {
  event: string;
  /** Payload field → the value it must carry (read from the variables at invoke time). */
  businessKey?: Record<string, unknown>;
}

/** What `callService` did, and how to feed it answers. */
export interface AdapterRun {
  /** Service calls in the order the adapter made them. */
  calls: RecordedCall[];
  /** Variables written back by the service step. */
  variables: Variables;
  /** Transition chosen by `callService`, if any. */
  transition?: string;
  /** The answers this adapter now expects, as PSI would record them. */
  expectations: ExpectedAnswer[];
  /**
   * Feeds an answer to the handler of `event`, with the process variables as they would be then
   * (`variables` of the run merged over the input, plus `extraVariables`) and a delivery context
   * (a fresh `deliveryId` per call unless `delivery` names one: pass the same to see what a
   * re-run after a crash does). Throws ResponseValidationError for a payload the DTO rejects.
   */
  respond(
    event: string,
    payload: unknown,
    extraVariables?: Variables,
    delivery?: Partial<ResponseContext>,
  ): Promise<AdapterOutcome>;
}

/**
 * Unit-tests an adapter with no engine, database or broker: the same runner the coordinator uses,
 * with a fake service behind the contract proxies.
 *
 * ```ts
 * const kit = new AdapterTestKit(SendOrderAdapter);
 * const run = await kit.callService({ orderId: 'PO-1' }, { placeOrder: () => undefined });
 * const result = await run.respond('confirmed', { orderNumber: 'PO-1', confirmationId: 'C-9' });
 * expect(result.transition).toBe('confirmed');
 * ```
 */
export class AdapterTestKit {
  readonly model: AdapterModel;
  readonly container: Container;
  private readonly runner: AdapterRunner;
  private deliveries = 0;

  constructor(adapterClass: Constructor, options: { container?: Container } = {}) {
    this.model = readAdapterModel(adapterClass);
    this.container = options.container ?? new Container();
    this.runner = new AdapterRunner(this.container);
    this.runner.register(this.model);
  }

  /** Runs `callService` with `variables`; throws AdapterInputError for invalid inputs. */
  async callService(variables: Variables, service: FakeService = {}): Promise<AdapterRun> {
    const calls: RecordedCall[] = [];
    const outcome = await this.runner.callService(this.model, variables, {
      call: async (operation, payload) => {
        calls.push({ operation, payload });
        const fake = service[operation];
        if (!fake) throw new Error(`The fake service has no operation "${operation}"`);
        return fake(payload);
      },
    });
    const expectations = [...this.model.handlers.values()].map(
      ({ method: _method, ...handler }) => ({
        ...handler,
        businessKey: handler.businessKey
          ? Object.fromEntries(
              Object.entries(handler.businessKey).map(([field, variable]) => [
                field,
                variables[variable],
              ]),
            )
          : undefined,
      }),
    );
    return {
      calls,
      variables: outcome.variables,
      transition: outcome.transition,
      expectations,
      respond: (event, payload, extraVariables = {}, delivery = {}) =>
        this.runner.handleResponse(
          this.model,
          event,
          { ...variables, ...outcome.variables, ...extraVariables },
          payload,
          {
            deliveryId: `test-delivery-${++this.deliveries}`,
            messageId: `test-message-${this.deliveries}`,
            event,
            instanceId: 'test-instance',
            redelivered: false,
            ...delivery,
          },
        ),
    };
  }
}
