import { UnknownServiceError } from '@psi/core';
import type { FieldViolation, ResolveHints, ServiceCoordinates, ServiceRegistry } from '@psi/core';
import type { DataSource, Repository } from 'typeorm';
import { RegistryConfigError, RegistryEntryError } from './errors';
import { selectVariant } from './select-variant';
import { validateCoordinates, type ServiceEntry } from './service-entries';
import { ServiceEntryEntity } from './service-entry.entity';

/** Options of {@link DatabaseRegistry}. */
export interface DatabaseRegistryOptions {
  /** Name reported in errors and by `UnknownServiceError`. @default 'database' */
  name?: string;
}

/**
 * A registry kept in the table `psi_service_registry` ({@link ServiceEntryEntity}), for fleets
 * where operators change addresses at run time. Every resolve reads the service's rows (one
 * indexed query), so a change made by {@link DatabaseRegistry.put}, another node or plain SQL is
 * seen at once, without a restart.
 *
 * The DataSource must include `registryEntities` and run `registryMigrations`.
 */
export class DatabaseRegistry implements ServiceRegistry {
  readonly name: string;

  constructor(
    private readonly dataSource: DataSource,
    options: DatabaseRegistryOptions = {},
  ) {
    this.name = options.name ?? 'database';
  }

  /**
   * Reads the variants of `service` and picks one by `hints`. A chosen row that does not hold
   * valid coordinates (edited by hand) is reported with a {@link RegistryEntryError}.
   */
  async resolve(service: string, hints?: ResolveHints): Promise<ServiceCoordinates> {
    const rows = await this.repository().find({ where: { service }, order: { id: 'ASC' } });
    const found = selectVariant(rows.map(variantOf), hints);
    if (!found) throw new UnknownServiceError(service, [this.name]);
    return this.toCoordinates(found.row);
  }

  /**
   * Adds or replaces the variant of `service` named by the entry's version, environment and
   * tenant; fields left out of `entry` are cleared. Returns what resolve will answer for it.
   */
  async put(service: string, entry: ServiceEntry): Promise<ServiceCoordinates> {
    const { coordinates, violations } = validateCoordinates(service, entry, service);
    if (!coordinates) throw new RegistryEntryError(this.name, violations);
    await this.repository().upsert(
      {
        service,
        transport: coordinates.transport,
        address: coordinates.address,
        replyAddress: coordinates.replyAddress ?? null,
        timeoutMs: coordinates.timeoutMs ?? null,
        parkingTtlMs: coordinates.parkingTtlMs ?? null,
        retry: coordinates.retry ? JSON.stringify(coordinates.retry) : null,
        version: coordinates.version ?? '',
        environment: coordinates.environment ?? '',
        tenant: coordinates.tenant ?? '',
        updatedAt: new Date(),
      },
      { conflictPaths: ['service', 'version', 'environment', 'tenant'] },
    );
    return coordinates;
  }

  /**
   * Removes `service`: every variant, or with `variant` only the one with exactly that version,
   * environment and tenant (absent fields meaning "none"). Returns how many rows went.
   */
  async remove(service: string, variant?: ResolveHints): Promise<number> {
    const where = variant
      ? {
          service,
          version: variant.version ?? '',
          environment: variant.environment ?? '',
          tenant: variant.tenant ?? '',
        }
      : { service };
    const result = await this.repository().delete(where);
    return result.affected ?? 0;
  }

  private repository(): Repository<ServiceEntryEntity> {
    if (!this.dataSource.hasMetadata(ServiceEntryEntity)) {
      throw new RegistryConfigError(
        `the DataSource of registry "${this.name}" does not include ServiceEntryEntity; add registryEntities to its entities and registryMigrations to its migrations.`,
      );
    }
    return this.dataSource.getRepository(ServiceEntryEntity);
  }

  private toCoordinates(row: ServiceEntryEntity): ServiceCoordinates {
    const path = `${row.service}[id=${row.id}]`;
    const violations: FieldViolation[] = [];
    let retry: unknown;
    if (row.retry !== null && row.retry.trim() !== '') {
      try {
        retry = JSON.parse(row.retry);
      } catch (error) {
        violations.push({
          path: `${path}.retry`,
          messages: [
            `retry must be JSON text (${error instanceof Error ? error.message : String(error)})`,
          ],
        });
      }
    }
    const { coordinates, violations: fieldViolations } = validateCoordinates(
      row.service,
      {
        transport: row.transport,
        address: row.address,
        replyAddress: row.replyAddress ?? undefined,
        timeoutMs: row.timeoutMs ?? undefined,
        parkingTtlMs: row.parkingTtlMs ?? undefined,
        retry,
        version: row.version || undefined,
        environment: row.environment || undefined,
        tenant: row.tenant || undefined,
      },
      path,
    );
    violations.push(...fieldViolations);
    if (!coordinates || violations.length > 0) throw new RegistryEntryError(this.name, violations);
    return coordinates;
  }
}

/** The row with its variant fields as resolve hints see them: `''` read as absent. */
function variantOf(row: ServiceEntryEntity): {
  row: ServiceEntryEntity;
  version?: string;
  environment?: string;
  tenant?: string;
} {
  return {
    row,
    version: row.version || undefined,
    environment: row.environment || undefined,
    tenant: row.tenant || undefined,
  };
}
