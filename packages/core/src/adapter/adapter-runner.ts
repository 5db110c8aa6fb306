import type { Container } from 'inversify';
import { AdapterInputError, ResponseValidationError, type FieldViolation } from '../errors';
import type { Variables } from '../spi/process-engine';
import type { AdapterModel, ResponseHandlerModel, ServiceAdapterInstance } from './adapter-model';
import type { ResponseContext } from './response-context';
import { createServiceProxy, refusingCaller, type ServiceCaller } from './service-proxy';
import { validateDto, validateProperties } from './validation';

/** What running an adapter produced: output variables and the transition it chose. */
export interface AdapterOutcome {
  variables: Variables;
  transition?: string;
}

/**
 * Builds adapters from the DI container and runs them: inputs in, validation, the call or the
 * handler, outputs out. It knows nothing of stores or engines, so the testing kit uses it as is.
 */
export class AdapterRunner {
  constructor(private readonly container: Container) {}

  /** Registers the adapter class in the container (transient: one instance per run). */
  register(model: ResponseHandlerModel): void {
    if (!this.container.isBound(model.adapterClass)) {
      this.container.bind(model.adapterClass).toSelf();
    }
  }

  /** Runs `callService`; throws AdapterInputError naming each invalid field. */
  async callService(
    model: AdapterModel,
    variables: Variables,
    caller: ServiceCaller,
  ): Promise<AdapterOutcome> {
    const adapter = this.build(model, variables, caller);
    const violations = await validateProperties(
      adapter,
      new Set(model.inputs.map((i) => i.property)),
    );
    if (violations.length > 0) throw new AdapterInputError(model.name, violations);
    const transition = await adapter.callService();
    return { variables: collectOutputs(model, adapter), transition: transition ?? undefined };
  }

  /** Validates an answer's payload against the handler's DTO without running anything. */
  async validateResponse(
    model: ResponseHandlerModel,
    event: string,
    payload: unknown,
  ): Promise<FieldViolation[]> {
    const handler = model.handlers.get(event);
    if (!handler?.payload) return [];
    return (await validateDto(handler.payload, payload)).violations;
  }

  /**
   * Runs the handler of `event` with the validated payload and the delivery's context; throws
   * ResponseValidationError when the payload is invalid.
   */
  async handleResponse(
    model: ResponseHandlerModel,
    event: string,
    variables: Variables,
    payload: unknown,
    context: ResponseContext,
  ): Promise<AdapterOutcome> {
    const handler = model.handlers.get(event);
    if (!handler) {
      throw new ResponseValidationError(event, [
        { path: '(event)', messages: [`adapter ${model.name} has no handler for "${event}"`] },
      ]);
    }
    let argument = payload;
    if (handler.payload) {
      const { value, violations } = await validateDto(handler.payload, payload);
      if (violations.length > 0) throw new ResponseValidationError(event, violations);
      argument = value;
    }
    const adapter = this.build(model, variables, refusingCaller(model.name));
    const method = (
      adapter as unknown as Record<string, (arg: unknown, context: ResponseContext) => unknown>
    )[handler.method];
    const transition = (await method.call(adapter, argument, context)) as string | void;
    return { variables: collectOutputs(model, adapter), transition: transition ?? undefined };
  }

  private build<T extends object = ServiceAdapterInstance>(
    model: ResponseHandlerModel,
    variables: Variables,
    caller: ServiceCaller,
  ): T {
    const adapter = this.container.get<T>(model.adapterClass);
    const fields = adapter as unknown as Record<string, unknown>;
    for (const input of model.inputs) fields[input.property] = variables[input.variable];
    for (const contract of model.contracts) fields[contract.property] = createServiceProxy(caller);
    return adapter;
  }
}

function collectOutputs(model: ResponseHandlerModel, adapter: object): Variables {
  const fields = adapter as unknown as Record<string, unknown>;
  const variables: Variables = {};
  for (const output of model.outputs) {
    if (fields[output.property] !== undefined) variables[output.variable] = fields[output.property];
  }
  return variables;
}
