/**
 * PSI's operator console, a fastify plugin for your own app:
 *
 * ```ts
 * import fastify from 'fastify';
 * import { psiConsole } from '@psi/console';
 *
 * const app = fastify();
 * await app.register(psiConsole, {
 *   prefix: '/psi',
 *   operations: coordinator.operations,
 *   authorize: async (request) => (await mySessions.user(request)) ?? null, // { name, role }
 * });
 * ```
 */
export { psiConsole } from './console-plugin';
export type { PsiConsoleOptions } from './console-options';
export type { ConsoleUser, ConsoleAuthorize } from './auth';
export {
  ConsoleErrorCode,
  ConsoleUnprotectedError,
  ConsoleConfigError,
  ConsoleRequestError,
} from './errors';
