import { injectable } from 'inversify';
import { ADAPTER_KEY } from './metadata-keys';

/** Declares which service step an adapter serves and which service it calls. */
export interface ServiceAdapterOptions {
  /** The process step (activity id) whose entry runs this adapter. */
  step: string;
  /** The service name the registry resolves to coordinates. */
  service: string;
}

/**
 * Marks a class as a service adapter. The class must have a `callService()` method; it is built by
 * the coordinator's inversify container, so constructor parameters are injected.
 */
export function ServiceAdapter(options: ServiceAdapterOptions): ClassDecorator {
  return (target) => {
    Reflect.defineMetadata(ADAPTER_KEY, { ...options }, target);
    injectable()(target as unknown as abstract new (...args: never[]) => unknown);
  };
}
