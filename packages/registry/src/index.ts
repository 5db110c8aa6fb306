/**
 * `@psi/registry`: where a service is and how to reach it. An adapter names a service
 * (`@ServiceAdapter({ service: 'supplier' })`); the registry gives its coordinates: transport,
 * address, reply address, timeout, retry policy, parking TTL, variants.
 *
 * - `StaticRegistry`: entries in code.
 * - `FileRegistry`: a JSON or YAML file, validated, reloaded when it changes (a bad edit is
 *   refused and the last good table kept).
 * - `DatabaseRegistry`: a table in PSI's store, for several nodes.
 * - `CompositeRegistry`: the first registry that knows the service.
 *
 * @example
 * ```ts
 * import { CompositeRegistry, FileRegistry, StaticRegistry } from '@psi/registry';
 *
 * const registry = new CompositeRegistry([
 *   await FileRegistry.open('config/services.json'), // { "supplier": { "transport": "http", "address": "…" } }
 *   new StaticRegistry({ erp: { transport: 'in-process', address: 'erp' } }),
 * ]);
 * const coordinator = await Coordinator.create({ store, engine, registry, transports, adapters });
 * ```
 *
 * Runnable: the registries' own tests (`packages/registry/src/*.test.ts`) and `samples/procurement`.
 */
export { StaticRegistry } from './static.registry';
export type { StaticRegistryOptions } from './static.registry';
export { FileRegistry } from './file.registry';
export type {
  FileRegistryOptions,
  FileRegistryEvents,
  FileRegistryReloaded,
} from './file.registry';
export { DatabaseRegistry } from './database.registry';
export type { DatabaseRegistryOptions } from './database.registry';
export { CompositeRegistry } from './composite.registry';
export type { CompositeRegistryOptions } from './composite.registry';

export { ServiceEntryEntity } from './service-entry.entity';
export { CreateServiceRegistryTable1732000000100 } from './migrations/1732000000100-create-service-registry-table.migration';
export { registryEntities, registryMigrations } from './registry-schema';

export { CoordinatesDto, RetryPolicyDto } from './coordinates.dto';
export { validateServiceEntries, validateCoordinates } from './service-entries';
export type { ServiceEntry, ServiceEntries, ServiceTable } from './service-entries';
export { selectVariant } from './select-variant';
export type { RegistryLogger } from './registry-logger';

export {
  RegistryErrorCode,
  RegistryEntryError,
  RegistryFileError,
  RegistryFileUnreadableError,
  RegistryConfigError,
} from './errors';
