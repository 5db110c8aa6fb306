import type { RetryPolicy } from '../spi/service-registry';

/** Exponential backoff with "equal jitter": half fixed, half random, so retries spread out. */
export function backoffDelay(
  policy: RetryPolicy,
  failedAttempts: number,
  random = Math.random,
): number {
  const exponential = policy.initialDelayMs * policy.multiplier ** Math.max(0, failedAttempts - 1);
  const capped = Math.min(policy.maxDelayMs, exponential);
  return Math.round(capped / 2 + (random() * capped) / 2);
}
