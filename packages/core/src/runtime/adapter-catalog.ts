import type { Container } from 'inversify';
import {
  readAdapterModel,
  type AdapterModel,
  type ResponseHandlerModel,
} from '../adapter/adapter-model';
import type { ResponseHandlerMetadata } from '../adapter/on-response.decorator';
import { modelWaitModel, readWaitBindingModel } from '../adapter/wait-binding-model';
import { AdapterDefinitionError, AdapterNotFoundError } from '../errors';
import type { Constructor } from '../adapter/metadata-keys';

/** A wait binding's handler for one event at one wait state. */
export interface BoundWait {
  model: ResponseHandlerModel;
  handler: ResponseHandlerMetadata;
}

/** The registered adapters (by step and by name) and wait bindings (by wait state). */
export class AdapterCatalog {
  private readonly byStepMap = new Map<string, AdapterModel>();
  private readonly byNameMap = new Map<string, ResponseHandlerModel>();
  private readonly adapters: AdapterModel[] = [];
  private readonly waitsByState = new Map<string, BoundWait[]>();
  private declared: Set<string> | undefined;

  constructor(
    adapterClasses: Constructor[],
    container: Container,
    waitBindings: Constructor[] = [],
  ) {
    for (const adapterClass of adapterClasses) {
      const model = readAdapterModel(adapterClass);
      if (this.byStepMap.has(model.step)) {
        throw new AdapterDefinitionError(
          model.name,
          `step "${model.step}" is already served by ${this.byStepMap.get(model.step)?.name}`,
        );
      }
      this.bind(model, container);
      this.byStepMap.set(model.step, model);
      this.adapters.push(model);
    }
    for (const bindingClass of waitBindings) {
      const model = readWaitBindingModel(bindingClass);
      this.bind(model, container);
      for (const handler of model.handlers.values()) {
        const bound = this.waitsByState.get(handler.waitState) ?? [];
        const twice = bound.find((b) => b.handler.event === handler.event);
        if (twice) {
          throw new AdapterDefinitionError(
            model.name,
            `"${handler.event}" at wait state "${handler.waitState}" is already bound by ${twice.model.name}`,
          );
        }
        bound.push({ model, handler });
        this.waitsByState.set(handler.waitState, bound);
      }
    }
    this.bind(modelWaitModel, container);
  }

  byStep(step: string): AdapterModel {
    const model = this.byStepMap.get(step);
    if (!model) throw new AdapterNotFoundError(step);
    return model;
  }

  hasStep(step: string): boolean {
    return this.byStepMap.has(step);
  }

  /** The adapter or wait binding of that name (the `adapter` of an expectation). */
  byName(name: string): ResponseHandlerModel | undefined {
    return this.byNameMap.get(name);
  }

  /** Every event an adapter or a wait binding declares a handler for, sorted. */
  events(): string[] {
    return [...new Set([...this.byNameMap.values()].flatMap((m) => [...m.handlers.keys()]))].sort();
  }

  /** Whether an adapter or a wait binding declares a handler for `event`. */
  declares(event: string): boolean {
    this.declared ??= new Set(this.events());
    return this.declared.has(event);
  }

  /** Adapters with a handler for `event`: where parking TTLs come from. */
  handling(event: string): AdapterModel[] {
    return this.adapters.filter((model) => model.handlers.has(event));
  }

  /** Adapters and wait bindings with a handler for `event`: where business keys come from. */
  answering(event: string): ResponseHandlerModel[] {
    return [...this.byNameMap.values()].filter(
      (model) => model !== modelWaitModel && model.handlers.has(event),
    );
  }

  /** The wait bindings' handlers at `waitState`. */
  waitsAt(waitState: string): readonly BoundWait[] {
    return this.waitsByState.get(waitState) ?? [];
  }

  private bind(model: ResponseHandlerModel, container: Container): void {
    if (this.byNameMap.has(model.name)) {
      throw new AdapterDefinitionError(model.name, 'another adapter or wait binding has this name');
    }
    if (!container.isBound(model.adapterClass)) container.bind(model.adapterClass).toSelf();
    this.byNameMap.set(model.name, model);
  }
}
