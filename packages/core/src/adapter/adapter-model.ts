import { AdapterDefinitionError } from '../errors';
import {
  ADAPTER_KEY,
  CONTRACTS_KEY,
  HANDLERS_KEY,
  INPUTS_KEY,
  OUTPUTS_KEY,
  type AbstractConstructor,
  type Constructor,
} from './metadata-keys';
import type { ResponseHandlerMetadata } from './on-response.decorator';
import type { ServiceAdapterOptions } from './service-adapter.decorator';

/** What every adapter class implements: the call made when the instance reaches its step. */
export interface ServiceAdapterInstance {
  /** Calls the service. May return the transition out of the service step. */
  callService(): Promise<string | void> | string | void;
}

export interface VariableBinding {
  property: string;
  variable: string;
}

export interface ContractBinding {
  property: string;
  contract: AbstractConstructor | undefined;
}

/**
 * A class whose `@OnResponse` handlers take answers: a service adapter, or a wait binding
 * (`@WaitBinding`) for wait states no service call comes before.
 */
export interface ResponseHandlerModel {
  name: string;
  adapterClass: Constructor<object>;
  inputs: VariableBinding[];
  outputs: VariableBinding[];
  contracts: ContractBinding[];
  handlers: ReadonlyMap<string, ResponseHandlerMetadata>;
}

/** The adapter as PSI understands it, read once from its decorators. */
export interface AdapterModel extends ResponseHandlerModel, ServiceAdapterOptions {
  adapterClass: Constructor<ServiceAdapterInstance>;
}

/** Reads an adapter class's metadata into an {@link AdapterModel}; throws AdapterDefinitionError. */
export function readAdapterModel(adapterClass: Constructor): AdapterModel {
  const name = adapterClass.name;
  const options = Reflect.getMetadata(ADAPTER_KEY, adapterClass) as
    ServiceAdapterOptions | undefined;
  if (!options) throw new AdapterDefinitionError(name, 'it has no @ServiceAdapter decorator');
  const prototype = adapterClass.prototype as Record<string, unknown>;
  if (typeof prototype.callService !== 'function') {
    throw new AdapterDefinitionError(name, 'it has no callService() method');
  }
  const handlers = readHandlers(name, adapterClass);
  const contracts = list<ContractBinding>(CONTRACTS_KEY, adapterClass);
  for (const c of contracts) {
    if (!c.contract) {
      throw new AdapterDefinitionError(
        name,
        `@UseService on "${c.property}" has no type; pass the contract class: @UseService(MyService)`,
      );
    }
  }
  return {
    ...options,
    name,
    adapterClass: adapterClass as Constructor<ServiceAdapterInstance>,
    inputs: list<VariableBinding>(INPUTS_KEY, adapterClass),
    outputs: list<VariableBinding>(OUTPUTS_KEY, adapterClass),
    contracts,
    handlers,
  };
}

/** The `@OnResponse` handlers of a class, by event; throws AdapterDefinitionError. */
export function readHandlers(name: string, target: object): Map<string, ResponseHandlerMetadata> {
  const handlers = new Map<string, ResponseHandlerMetadata>();
  for (const handler of list<ResponseHandlerMetadata>(HANDLERS_KEY, target)) {
    if (handlers.has(handler.event)) {
      throw new AdapterDefinitionError(name, `event "${handler.event}" has two handlers`);
    }
    if (handler.correlationKey === false && !handler.businessKey) {
      throw new AdapterDefinitionError(
        name,
        `event "${handler.event}" can not be correlated: correlationKey is off and no businessKey is given`,
      );
    }
    handlers.set(handler.event, handler);
  }
  return handlers;
}

/** The `@Input`, `@Output` and `@UseService` bindings of a class. */
export function readBindings(
  target: object,
): Pick<ResponseHandlerModel, 'inputs' | 'outputs' | 'contracts'> {
  return {
    inputs: list<VariableBinding>(INPUTS_KEY, target),
    outputs: list<VariableBinding>(OUTPUTS_KEY, target),
    contracts: list<ContractBinding>(CONTRACTS_KEY, target),
  };
}

function list<T>(key: symbol, target: object): T[] {
  return (Reflect.getMetadata(key, target) as T[] | undefined) ?? [];
}
