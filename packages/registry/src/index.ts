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
