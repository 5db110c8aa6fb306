import { EngineDependencyMissingError } from '../errors';

const loaded = new Map<string, unknown>();

/**
 * Loads an optional peer dependency on first use (bpmn-engine, xstate): a plugin loads its engine
 * when it is built, never when `@psi/engines` is imported, so users install only the engines they
 * run. `require` also serves bpmn-engine, an ES module with a CommonJS build whose ESM-only
 * typings a CommonJS TypeScript project cannot import directly.
 *
 * @throws EngineDependencyMissingError when the package cannot be resolved.
 */
export function loadOptionalDependency<T>(
  dependency: string,
  versionRange: string,
  plugin: string,
): T {
  if (loaded.has(dependency)) return loaded.get(dependency) as T;
  let module: unknown;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer dependency, loaded lazily
    module = require(dependency);
  } catch (error) {
    if (isModuleNotFound(error, dependency)) {
      throw new EngineDependencyMissingError(dependency, versionRange, plugin, { cause: error });
    }
    throw error;
  }
  loaded.set(dependency, module);
  return module as T;
}

function isModuleNotFound(error: unknown, dependency: string): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { code?: unknown }).code === 'MODULE_NOT_FOUND' &&
    String((error as { message?: unknown }).message).includes(`'${dependency}'`)
  );
}
