import { AdapterDefinitionError } from '../errors';

/** Where a contract proxy sends its calls: the coordinator, or a fake in the testing kit. */
export interface ServiceCaller {
  call(operation: string, payload: unknown): Promise<unknown>;
}

/**
 * A proxy whose every method is an operation of the service. Calls take one argument (the payload);
 * `then` and symbols are left undefined so the proxy is not mistaken for a promise.
 */
export function createServiceProxy<T extends object>(caller: ServiceCaller): T {
  return new Proxy({} as T, {
    get(_target, property) {
      if (typeof property !== 'string' || property === 'then') return undefined;
      return (payload?: unknown) => caller.call(property, payload);
    },
  });
}

/** The caller given to response handlers: services are called from callService() only. */
export function refusingCaller(adapter: string): ServiceCaller {
  return {
    call(operation) {
      return Promise.reject(
        new AdapterDefinitionError(
          adapter,
          `a response handler called "${operation}"; make service calls in callService()`,
        ),
      );
    },
  };
}
