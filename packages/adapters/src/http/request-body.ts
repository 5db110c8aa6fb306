import { InboundMessageError, type PsiError, type Variables } from '@psi/core';
import type { FastifyRequest } from 'fastify';
import { HttpBodyMalformedError, HttpRequestInvalidError } from '../errors';

// The inbound server's reading of request bodies and headers: messages name the field, never
// repeat its value.

/**
 * JSON.parse that refuses `__proto__` keys, which would poison objects merged from the body. The
 * keys are looked for without recursion (a reviver recurses, and a body nested a few thousand
 * levels deep would overflow the stack), so any depth parses and the coordinator's depth limit
 * answers it.
 */
export function parseJson(text: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    throw new HttpBodyMalformedError('unparseable');
  }
  const pending: unknown[] = [parsed];
  while (pending.length > 0) {
    const node = pending.pop();
    if (typeof node !== 'object' || node === null) continue;
    if (!Array.isArray(node) && Object.prototype.hasOwnProperty.call(node, '__proto__')) {
      throw new HttpBodyMalformedError('proto-key');
    }
    for (const child of Object.values(node)) {
      if (typeof child === 'object' && child !== null) pending.push(child);
    }
  }
  return parsed;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function objectBody(
  body: unknown,
  invalid: (problem: string) => PsiError,
): Record<string, unknown> {
  if (body === undefined) return {};
  if (!isPlainObject(body)) throw invalid('the body must be a JSON object.');
  return body;
}

export function requireEvent(event: unknown): string {
  if (typeof event !== 'string' || event.length === 0) {
    throw new InboundMessageError('"event" must be a non-empty string naming the answer.');
  }
  return event;
}

export function optionalString(
  body: Record<string, unknown>,
  field: string,
  invalid: (problem: string) => PsiError,
): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw invalid(`"${field}" must be a non-empty string when given.`);
  }
  return value;
}

export function optionalVariables(value: unknown, field: string): Variables | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) {
    throw new HttpRequestInvalidError(`"${field}" must be an object of process variables.`);
  }
  return value;
}

export function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}
