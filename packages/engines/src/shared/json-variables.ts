import type { Variables } from '@psi/core';
import { VariablesInvalidError } from '../errors';

/**
 * A copy of `variables` as it will read back from the repository, so what a running instance
 * sees never differs from what a restored one sees.
 *
 * @throws VariablesInvalidError when they are not an object or cannot be written as JSON.
 */
export function toJsonVariables(variables: unknown): Variables {
  if (typeof variables !== 'object' || variables === null || Array.isArray(variables)) {
    throw new VariablesInvalidError(
      `expected an object of variables, got ${Array.isArray(variables) ? 'an array' : typeof variables}`,
    );
  }
  try {
    return JSON.parse(JSON.stringify(variables)) as Variables;
  } catch (error) {
    throw new VariablesInvalidError(error instanceof Error ? error.message : String(error), {
      cause: error,
    });
  }
}
