import type { ResolveHints } from '@psi/core';

const variantFields = ['version', 'environment', 'tenant'] as const;

/**
 * Picks the variant of a service that fits `hints`. A variant is eligible when every variant
 * field it sets (`version`, `environment`, `tenant`) equals the hint of that name; a variant
 * that leaves a field out is the fallback for any hint of that field. Among eligible variants
 * the most specific wins (most fields set), then the first declared. A variant that sets a field
 * no hint was given for is never picked: an `environment: 'test'` entry is not a silent default.
 * Returns `undefined` when none is eligible.
 */
export function selectVariant<T extends ResolveHints>(
  variants: readonly T[],
  hints: ResolveHints = {},
): T | undefined {
  let best: T | undefined;
  let bestScore = -1;
  for (const variant of variants) {
    let score = 0;
    let eligible = true;
    for (const field of variantFields) {
      const value = variant[field];
      if (value === undefined) continue;
      if (value !== hints[field]) {
        eligible = false;
        break;
      }
      score += 1;
    }
    if (eligible && score > bestScore) {
      best = variant;
      bestScore = score;
    }
  }
  return best;
}

/** True when both belong to the same variant (same version, environment and tenant). */
export function sameVariant(a: ResolveHints, b: ResolveHints): boolean {
  return variantFields.every((field) => a[field] === b[field]);
}
