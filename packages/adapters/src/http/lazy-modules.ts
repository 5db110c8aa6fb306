import type * as Undici from 'undici';
import type FastifyFactory from 'fastify';

// undici and fastify take ~90 and ~40 ms to load. A process that only uses the in-process or
// Kafka transport (a worker, the `psi` CLI, a test's child node) should not pay that at start,
// so the HTTP classes load them when first constructed or used.

let undici: typeof Undici | undefined;
let fastify: typeof FastifyFactory | undefined;

/** `undici`, loaded on first use. */
export function loadUndici(): typeof Undici {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily (start-up time)
  undici ??= require('undici') as typeof Undici;
  return undici;
}

/** The `fastify` factory, loaded on first use. */
export function loadFastify(): typeof FastifyFactory {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily (start-up time)
  fastify ??= (require('fastify') as { default: typeof FastifyFactory }).default;
  return fastify;
}
