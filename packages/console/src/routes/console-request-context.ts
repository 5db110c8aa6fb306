import type { FastifyRequest } from 'fastify';
import type { ConsoleUser } from '../auth';
import type { PageContext } from '../layout';

/** What the routes get per request (from the plugin, which owns users and CSRF tokens). */
export interface ConsoleRequestContext {
  user(request: FastifyRequest): ConsoleUser;
  pageContext(request: FastifyRequest): PageContext;
}
