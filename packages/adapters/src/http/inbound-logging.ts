import type { FastifyRequest } from 'fastify';

/** Where the inbound server reports what an operator must see (5xx, refused connections, open mode). */
export interface HttpInboundLog {
  warn(message: string, detail?: unknown): void;
  error(message: string, detail?: unknown): void;
}

export const consoleInboundLog: HttpInboundLog = {
  warn: (message, detail) => console.warn(`[psi-http] ${message}`, detail ?? ''),
  error: (message, detail) => console.error(`[psi-http] ${message}`, detail ?? ''),
};

const CALLBACK_TOKEN_IN_PATH = /(\/callbacks\/)[^/?#]*/gi;

/**
 * A URL fit for logs: the callback token in `/callbacks/<token>` becomes `[redacted]` (its
 * signature makes it a credential), and the query string is dropped.
 */
export function redactUrl(url: string): string {
  const path = url.split(/[?#]/, 1)[0] ?? '';
  return (
    path.replace(CALLBACK_TOKEN_IN_PATH, '$1[redacted]') + (path.length < url.length ? '?…' : '')
  );
}

/**
 * fastify's request serializer with the URL redacted; headers (Authorization) are not logged.
 * `request.ip` is what the rate limit keys on.
 */
export function redactedRequest(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactUrl(request.url),
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}
