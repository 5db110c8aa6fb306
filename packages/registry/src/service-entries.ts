import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import type { FieldViolation, RetryPolicy, ServiceCoordinates } from '@psi/core';
import { CoordinatesDto } from './coordinates.dto';
import { sameVariant } from './select-variant';

/** One registry entry: the coordinates of a service; `service` is filled from the entry's key. */
export type ServiceEntry = Omit<ServiceCoordinates, 'service'> & { service?: string };

/**
 * Service entries keyed by service name. A list holds variants of one service told apart by
 * `version`, `environment` and `tenant`; see {@link selectVariant} for how one is picked.
 */
export type ServiceEntries = Record<string, ServiceEntry | readonly ServiceEntry[]>;

/** Validated entries: every service with its variants, in declaration order. */
export type ServiceTable = ReadonlyMap<string, readonly ServiceCoordinates[]>;

/**
 * Validates a plain `{ [service]: entry | entry[] }` object (from code, JSON or YAML) and turns
 * it into a {@link ServiceTable}. Violations carry dotted paths starting with `pathPrefix`, then
 * the service, the variant index for lists, and the field: `services.supplier.1.timeoutMs`.
 */
export function validateServiceEntries(
  plain: unknown,
  pathPrefix = '',
): { table: ServiceTable; violations: FieldViolation[] } {
  const table = new Map<string, ServiceCoordinates[]>();
  const at = (path: string): string => (pathPrefix ? `${pathPrefix}.${path}` : path);
  if (!isPlainObject(plain)) {
    return {
      table,
      violations: [
        { path: pathPrefix || '(entries)', messages: ['must be an object keyed by service name'] },
      ],
    };
  }
  const violations: FieldViolation[] = [];
  for (const [service, entry] of Object.entries(plain)) {
    if (service.trim() === '') {
      violations.push({ path: at('(empty key)'), messages: ['service name must not be empty'] });
      continue;
    }
    const list = Array.isArray(entry) ? (entry as unknown[]) : [entry];
    if (list.length === 0) {
      violations.push({ path: at(service), messages: ['must list at least one variant'] });
      continue;
    }
    const variants: ServiceCoordinates[] = [];
    list.forEach((item, index) => {
      const path = at(Array.isArray(entry) ? `${service}.${index}` : service);
      const result = validateCoordinates(service, item, path);
      violations.push(...result.violations);
      if (!result.coordinates) return;
      const twin = variants.findIndex((v) => sameVariant(v, result.coordinates!));
      if (twin >= 0) {
        violations.push({
          path,
          messages: [
            `duplicates the variant of ${at(`${service}.${twin}`)} (same version, environment and tenant)`,
          ],
        });
        return;
      }
      variants.push(result.coordinates);
    });
    table.set(service, variants);
  }
  return { table, violations };
}

/**
 * Validates one entry of `service` against {@link CoordinatesDto}; `path` prefixes the field
 * paths of the violations. Returns the coordinates (service filled in, absent fields left out).
 */
export function validateCoordinates(
  service: string,
  plain: unknown,
  path: string,
): { coordinates?: ServiceCoordinates; violations: FieldViolation[] } {
  if (!isPlainObject(plain)) {
    return { violations: [{ path, messages: ['must be an object with transport and address'] }] };
  }
  const dto = plainToInstance(CoordinatesDto, plain);
  const violations = toViolations(
    validateSync(dto, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true }),
    path,
  );
  if (dto.service !== undefined && dto.service !== null && dto.service !== service) {
    violations.push({
      path: `${path}.service`,
      messages: [`service must equal its key "${service}" (or be left out)`],
    });
  }
  if (violations.length > 0) return { violations };
  const coordinates: ServiceCoordinates = {
    service,
    transport: dto.transport,
    address: dto.address,
  };
  copyDefined(dto, coordinates, [
    'replyAddress',
    'timeoutMs',
    'parkingTtlMs',
    'version',
    'environment',
    'tenant',
  ]);
  if (dto.retry) {
    const retry: Partial<RetryPolicy> = {};
    copyDefined(dto.retry, retry, ['maxAttempts', 'initialDelayMs', 'multiplier', 'maxDelayMs']);
    coordinates.retry = retry;
  }
  return { coordinates, violations };
}

function copyDefined<S extends object, T extends object>(
  source: S,
  target: T,
  keys: readonly (keyof S & keyof T)[],
): void {
  for (const key of keys) {
    const value = source[key];
    if (value !== undefined && value !== null) target[key] = value as unknown as T[typeof key];
  }
}

function toViolations(errors: ValidationError[], prefix: string): FieldViolation[] {
  return errors.flatMap((error) => {
    const path = `${prefix}.${error.property}`;
    const own = error.constraints ? [{ path, messages: Object.values(error.constraints) }] : [];
    return [...own, ...toViolations(error.children ?? [], path)];
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
