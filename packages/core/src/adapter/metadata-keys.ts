// Namespaced reflect-metadata keys; decorators only write these, AdapterModelReader reads them.
export const ADAPTER_KEY = Symbol.for('@psi/core/adapter');
export const INPUTS_KEY = Symbol.for('@psi/core/adapter/inputs');
export const OUTPUTS_KEY = Symbol.for('@psi/core/adapter/outputs');
export const CONTRACTS_KEY = Symbol.for('@psi/core/adapter/contracts');
export const HANDLERS_KEY = Symbol.for('@psi/core/adapter/handlers');
export const WAIT_BINDING_KEY = Symbol.for('@psi/core/wait-binding');

export type Constructor<T = object> = new (...args: never[]) => T;
// Abstract classes work as service contracts; their constructor type is abstract.
export type AbstractConstructor<T = object> = abstract new (...args: never[]) => T;

/** Appends to an array stored under `key` on `target` without touching a parent class's array. */
export function appendMetadata<T>(key: symbol, target: object, entry: T): void {
  const own: T[] = Reflect.hasOwnMetadata(key, target)
    ? (Reflect.getOwnMetadata(key, target) as T[])
    : [...((Reflect.getMetadata(key, target) as T[] | undefined) ?? [])];
  Reflect.defineMetadata(key, [...own, entry], target);
}
