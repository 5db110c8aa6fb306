import { PsiError } from '@psi/core';
import type { FieldViolation } from '@psi/core';

/** Stable error codes of @psi/registry. Codes never change meaning; new ones are added. */
export const RegistryErrorCode = {
  EntryInvalid: 'PSI_REGISTRY_ENTRY_INVALID',
  FileInvalid: 'PSI_REGISTRY_FILE_INVALID',
  FileUnreadable: 'PSI_REGISTRY_FILE_UNREADABLE',
  ConfigInvalid: 'PSI_REGISTRY_CONFIG_INVALID',
} as const;
export type RegistryErrorCode = (typeof RegistryErrorCode)[keyof typeof RegistryErrorCode];

/**
 * Thrown when service entries given in code (StaticRegistry), written with `DatabaseRegistry.put`
 * or read from a database row do not describe valid coordinates. Each violation's path starts
 * with the service name, then the variant index if the entry is a list, then the field
 * (e.g. `supplier.1.timeoutMs`).
 */
export class RegistryEntryError extends PsiError {
  constructor(
    readonly registry: string,
    readonly violations: FieldViolation[],
  ) {
    super(
      RegistryErrorCode.EntryInvalid,
      `Registry "${registry}" has invalid service entries: ${formatViolations(violations)}; fix these fields.`,
    );
  }

  /** Names of the services whose entries are invalid. */
  get services(): string[] {
    return [...new Set(this.violations.map((v) => v.path.split('.')[0] ?? v.path))];
  }

  protected override details(): unknown {
    return { registry: this.registry, violations: this.violations };
  }
}

/**
 * Thrown by `FileRegistry.open` (and emitted with `reload-failed` on a later edit) when the
 * registry file cannot be parsed or its content is not valid: `problem` carries the parser's
 * message, `violations` the failed fields with paths such as `services.supplier.timeoutMs`.
 */
export class RegistryFileError extends PsiError {
  constructor(
    readonly path: string,
    readonly problem: string,
    readonly violations: FieldViolation[] = [],
    options?: { cause?: unknown },
  ) {
    super(
      RegistryErrorCode.FileInvalid,
      `Registry file ${path} is invalid: ${violations.length > 0 ? formatViolations(violations) : problem}`,
      options,
    );
  }

  protected override details(): unknown {
    return { path: this.path, problem: this.problem, violations: this.violations };
  }
}

/**
 * Thrown by `FileRegistry.open` (and emitted with `reload-failed` later) when the registry file
 * cannot be read: missing, a directory, no permission.
 */
export class RegistryFileUnreadableError extends PsiError {
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(
      RegistryErrorCode.FileUnreadable,
      `Registry file ${path} cannot be read (${cause instanceof Error ? cause.message : String(cause)}); check the path and its permissions.`,
      { cause },
    );
  }

  protected override details(): unknown {
    return { path: this.path };
  }
}

/** Thrown when a registry is set up wrongly: an empty composite, a DataSource without the registry entity. */
export class RegistryConfigError extends PsiError {
  constructor(problem: string) {
    super(RegistryErrorCode.ConfigInvalid, `Registry configuration is invalid: ${problem}`);
  }
}

function formatViolations(violations: FieldViolation[]): string {
  return violations.map((v) => `${v.path}: ${v.messages.join('; ')}`).join(' | ');
}
