import { PsiError, PsiErrorCode, UnknownServiceError } from '@psi/core';
import type { ResolveHints, ServiceCoordinates, ServiceRegistry } from '@psi/core';
import { RegistryConfigError } from './errors';

/** Options of {@link CompositeRegistry}. */
export interface CompositeRegistryOptions {
  /** Name reported in errors when this composite is itself part of another. @default 'composite' */
  name?: string;
}

/**
 * Asks several registries in order; the first that knows the service answers. Typical chain:
 * a `StaticRegistry` of overrides, then a `FileRegistry`, then a `DatabaseRegistry`.
 *
 * Only "unknown service" moves on to the next registry; any other error (a broken database
 * connection, an invalid row) propagates at once, since falling through could pick an address
 * the operator did not mean. When no registry knows the service, the `UnknownServiceError`
 * lists every registry asked, nested composites flattened.
 */
export class CompositeRegistry implements ServiceRegistry {
  readonly name: string;
  private readonly registries: readonly ServiceRegistry[];

  constructor(registries: readonly ServiceRegistry[], options: CompositeRegistryOptions = {}) {
    if (registries.length === 0) {
      throw new RegistryConfigError('a CompositeRegistry needs at least one registry to ask');
    }
    this.registries = [...registries];
    this.name = options.name ?? 'composite';
  }

  async resolve(service: string, hints?: ResolveHints): Promise<ServiceCoordinates> {
    const asked: string[] = [];
    for (const registry of this.registries) {
      try {
        return await registry.resolve(service, hints);
      } catch (error) {
        if (!isUnknownService(error)) throw error;
        asked.push(...namesAsked(error, registry));
      }
    }
    throw new UnknownServiceError(service, asked);
  }
}

// By code, not instanceof: the error may come from another copy of @psi/core (jest registries).
function isUnknownService(error: unknown): error is PsiError {
  return PsiError.is(error) && error.code === PsiErrorCode.ServiceUnknown;
}

function namesAsked(error: PsiError, registry: ServiceRegistry): string[] {
  const inner = (error as Partial<UnknownServiceError>).registriesAsked;
  return Array.isArray(inner) && inner.length > 0 ? inner.map(String) : [registry.name];
}
