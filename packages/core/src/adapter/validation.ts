import { plainToInstance, type ClassConstructor } from 'class-transformer';
import { validate, type ValidationError } from 'class-validator';
import type { FieldViolation } from '../errors';
import type { Constructor } from './metadata-keys';

/** Flattens class-validator's tree into dotted field paths. */
export function toViolations(errors: ValidationError[], prefix = ''): FieldViolation[] {
  return errors.flatMap((error) => {
    const path = prefix ? `${prefix}.${error.property}` : error.property;
    const own = error.constraints ? [{ path, messages: Object.values(error.constraints) }] : [];
    return [...own, ...toViolations(error.children ?? [], path)];
  });
}

/** Turns a plain payload into a DTO instance and validates it; returns the violations found. */
export async function validateDto<T extends object>(
  dto: Constructor<T>,
  plain: unknown,
): Promise<{ value: T; violations: FieldViolation[] }> {
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) {
    return {
      value: plain as T,
      violations: [{ path: '(payload)', messages: ['payload must be a JSON object'] }],
    };
  }
  const value = plainToInstance(dto as unknown as ClassConstructor<T>, plain);
  const errors = await validate(value, { forbidUnknownValues: false });
  return { value, violations: toViolations(errors) };
}

/** Validates an already-built object (an adapter with its inputs assigned), only for `properties`. */
export async function validateProperties(
  target: object,
  properties: ReadonlySet<string>,
): Promise<FieldViolation[]> {
  const errors = await validate(target, { forbidUnknownValues: false });
  return toViolations(errors.filter((e) => properties.has(e.property)));
}
