import type { Container } from 'inversify';
import { readAdapterModel, type AdapterModel } from '../adapter/adapter-model';
import { AdapterDefinitionError, AdapterNotFoundError } from '../errors';
import type { Constructor } from '../adapter/metadata-keys';

/** The registered adapters, by step and by name. */
export class AdapterCatalog {
  private readonly byStepMap = new Map<string, AdapterModel>();
  private readonly byNameMap = new Map<string, AdapterModel>();

  constructor(adapterClasses: Constructor[], container: Container) {
    for (const adapterClass of adapterClasses) {
      const model = readAdapterModel(adapterClass);
      if (this.byStepMap.has(model.step)) {
        throw new AdapterDefinitionError(
          model.name,
          `step "${model.step}" is already served by ${this.byStepMap.get(model.step)?.name}`,
        );
      }
      if (!container.isBound(model.adapterClass)) container.bind(model.adapterClass).toSelf();
      this.byStepMap.set(model.step, model);
      this.byNameMap.set(model.name, model);
    }
  }

  byStep(step: string): AdapterModel {
    const model = this.byStepMap.get(step);
    if (!model) throw new AdapterNotFoundError(step);
    return model;
  }

  hasStep(step: string): boolean {
    return this.byStepMap.has(step);
  }

  byName(name: string): AdapterModel | undefined {
    return this.byNameMap.get(name);
  }

  /** Every event some adapter declares a handler for, sorted. */
  events(): string[] {
    return [...new Set([...this.byNameMap.values()].flatMap((m) => [...m.handlers.keys()]))].sort();
  }

  /** Adapters with a handler for `event`: where business keys and parking TTLs come from. */
  handling(event: string): AdapterModel[] {
    return [...this.byNameMap.values()].filter((model) => model.handlers.has(event));
  }
}
