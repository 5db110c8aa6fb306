import { CONTRACTS_KEY, appendMetadata, type AbstractConstructor } from './metadata-keys';

/**
 * Injects a typed proxy of a service contract (an abstract class whose methods are the service's
 * operations). Each call becomes a request to the adapter's service; it resolves with the
 * service's synchronous reply, or `undefined` when the answer comes later as an event.
 */
export function UseService(contract?: AbstractConstructor): PropertyDecorator {
  return (target, property) => {
    const type =
      contract ??
      (Reflect.getMetadata('design:type', target, property) as AbstractConstructor | undefined);
    appendMetadata(CONTRACTS_KEY, target.constructor, {
      property: String(property),
      contract: type,
    });
  };
}
