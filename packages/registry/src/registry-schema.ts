import { CreateServiceRegistryTable1732000000100 } from './migrations/1732000000100-create-service-registry-table.migration';
import { ServiceEntryEntity } from './service-entry.entity';

/** Entities of @psi/registry; add them to the `entities` of the DataSource a DatabaseRegistry uses. */
export const registryEntities = [ServiceEntryEntity];

/** Migrations of @psi/registry, oldest first; add them to the `migrations` of that DataSource. */
export const registryMigrations = [CreateServiceRegistryTable1732000000100];
