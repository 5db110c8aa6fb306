import { AdapterDefinitionError } from '../errors';
import { readBindings, readHandlers, type ResponseHandlerModel } from './adapter-model';
import { WAIT_BINDING_KEY, type Constructor } from './metadata-keys';
import type { ResponseHandlerMetadata } from './on-response.decorator';

/** A wait binding as PSI understands it, read once from its decorators. */
export type WaitBindingModel = ResponseHandlerModel;

/** Reads a `@WaitBinding` class; throws AdapterDefinitionError. */
export function readWaitBindingModel(bindingClass: Constructor): WaitBindingModel {
  const name = bindingClass.name;
  if (Reflect.getMetadata(WAIT_BINDING_KEY, bindingClass) !== true) {
    throw new AdapterDefinitionError(name, 'it has no @WaitBinding decorator');
  }
  const handlers = readHandlers(name, bindingClass);
  if (handlers.size === 0) {
    throw new AdapterDefinitionError(name, 'a wait binding needs at least one @OnResponse handler');
  }
  return { name, adapterClass: bindingClass, handlers, ...readBindings(bindingClass) };
}

/** Takes the answers of model-declared waits nobody bound: nothing is written, no transition. */
class ModelWaitAnswer {
  answered(): void {
    // The answer reaches the engine as the signal's payload; no variable is written for it.
  }
}

/** Every event handled by {@link ModelWaitAnswer.answered}. */
class AnyEventHandlers implements ReadonlyMap<string, ResponseHandlerMetadata> {
  readonly size = 0;
  get(event: string): ResponseHandlerMetadata {
    return { event, method: 'answered', waitState: '' };
  }
  has(): boolean {
    return true;
  }
  forEach(): void {}
  entries(): MapIterator<[string, ResponseHandlerMetadata]> {
    return new Map<string, ResponseHandlerMetadata>().entries();
  }
  keys(): MapIterator<string> {
    return new Map<string, ResponseHandlerMetadata>().keys();
  }
  values(): MapIterator<ResponseHandlerMetadata> {
    return new Map<string, ResponseHandlerMetadata>().values();
  }
  [Symbol.iterator](): MapIterator<[string, ResponseHandlerMetadata]> {
    return this.entries();
  }
}

/** The name under which expectations of unbound model-declared waits are recorded. */
export const MODEL_WAIT = 'psi:model-wait';

/**
 * The handler of answers to waits the engine's model declares and no `@WaitBinding` binds: the
 * answer is delivered (its payload handed to the engine with the signal), nothing else.
 */
export const modelWaitModel: WaitBindingModel = {
  name: MODEL_WAIT,
  adapterClass: ModelWaitAnswer,
  handlers: new AnyEventHandlers(),
  inputs: [],
  outputs: [],
  contracts: [],
};
