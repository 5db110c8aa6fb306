import { randomUUID } from 'node:crypto';

/**
 * A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits. PSI's own
 * row ids and correlation keys are these rather than random (v4) UUIDs: consecutive inserts
 * land next to each other at the end of each index instead of on a random page of it, so a
 * commit writes far fewer pages (+26 % correlations/s on better-sqlite3, +6 % on sqlite3,
 * bench/). Still unguessable in practice, and still a UUID to anyone who stores one.
 */
export function timeOrderedId(now: number = Date.now()): string {
  // randomUUID() keeps a pool of entropy, so it is cheaper than fresh random bytes per id.
  const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx (V: the variant)
  const time = Math.trunc(now).toString(16).padStart(12, '0').slice(-12);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${random.slice(15)}`;
}
