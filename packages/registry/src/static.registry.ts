import { UnknownServiceError } from '@psi/core';
import type { ResolveHints, ServiceCoordinates, ServiceRegistry } from '@psi/core';
import { RegistryEntryError } from './errors';
import { selectVariant } from './select-variant';
import { validateServiceEntries, type ServiceEntries, type ServiceTable } from './service-entries';

/** Options of {@link StaticRegistry}. */
export interface StaticRegistryOptions {
  /** Name reported in errors and by `UnknownServiceError`. @default 'static' */
  name?: string;
}

/**
 * A registry written in code: for tests, samples and services whose address never changes.
 * Entries are validated at construction (a {@link RegistryEntryError} names the service and
 * field); an entry may be a list of variants picked by `version`, `environment` and `tenant`.
 *
 * @example
 * new StaticRegistry({
 *   supplier: { transport: 'in-process', address: 'supplier', parkingTtlMs: 60000 },
 *   erp: [
 *     { transport: 'http', address: 'https://erp.example.com' },
 *     { transport: 'http', address: 'https://erp-test.example.com', environment: 'test' },
 *   ],
 * });
 */
export class StaticRegistry implements ServiceRegistry {
  readonly name: string;
  private readonly table: ServiceTable;

  constructor(entries: ServiceEntries, options: StaticRegistryOptions = {}) {
    this.name = options.name ?? 'static';
    const { table, violations } = validateServiceEntries(entries);
    if (violations.length > 0) throw new RegistryEntryError(this.name, violations);
    this.table = table;
  }

  /** Names of the services this registry knows. */
  get services(): string[] {
    return [...this.table.keys()];
  }

  resolve(service: string, hints?: ResolveHints): Promise<ServiceCoordinates> {
    const found = selectVariant(this.table.get(service) ?? [], hints);
    if (!found) return Promise.reject(new UnknownServiceError(service, [this.name]));
    return Promise.resolve(structuredClone(found));
  }
}
