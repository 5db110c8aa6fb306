import { CoordinatorOptionsError, InboundMessageError, MessageLimitError } from '../errors';
import type { InboundMessage } from '../spi/transport';
import type { AdapterCatalog } from '../runtime/adapter-catalog';
import { businessKeysOf } from './received-message';

/**
 * Limits on what an inbound message may carry, checked by `Coordinator.receive` before anything
 * is stored. They keep every indexed column far below PostgreSQL's B-tree entry limit (~2.7 KB),
 * so a message is accepted or refused alike on SQLite and PostgreSQL, never half-way.
 */
export interface InboundLimits {
  /** Longest event name, in UTF-8 bytes. @default 200 */
  maxEventBytes?: number;
  /** Longest message id, correlation key or source, in UTF-8 bytes. @default 512 */
  maxIdBytes?: number;
  /**
   * Longest business key in its stored form (`[["field","value"],…]` as JSON), in UTF-8 bytes:
   * explicit ones and those computed from the payload with the handlers' `businessKey` fields.
   * @default 1024
   */
  maxBusinessKeyBytes?: number;
  /** Deepest nesting of objects and arrays in a payload (`{}` is 1). @default 32 */
  maxDepth?: number;
}

export type CompiledInboundLimits = Required<InboundLimits>;

export const DEFAULT_INBOUND_LIMITS: CompiledInboundLimits = {
  maxEventBytes: 200,
  maxIdBytes: 512,
  maxBusinessKeyBytes: 1024,
  maxDepth: 32,
};

export function compileInboundLimits(limits: InboundLimits = {}): CompiledInboundLimits {
  const compiled = { ...DEFAULT_INBOUND_LIMITS, ...limits };
  for (const [name, value] of Object.entries(compiled)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new CoordinatorOptionsError(
        `limits.${name} must be a positive integer (got ${value}).`,
      );
    }
  }
  return compiled;
}

/**
 * C0 controls (NUL included), DEL, and UTF-16 surrogates that are not part of a pair: PostgreSQL
 * refuses NUL in text, and a lone surrogate would be stored as U+FFFD, that is, as another id.
 */
function hasUnsafeCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
      i++; // the pair's low half
    } else if (code >= 0xdc00 && code <= 0xdfff) return true;
  }
  return false;
}

/**
 * Checks one identifier (an event name, id or key) against a byte limit and the character rule.
 * Throws InboundMessageError (a control character) or MessageLimitError (too long); the error
 * names the field and the limit, never the value.
 */
export function checkIdentifier(
  field: string,
  value: string,
  maxBytes: number,
  limit: string,
): void {
  if (Buffer.byteLength(value, 'utf8') > maxBytes)
    throw new MessageLimitError(field, limit, maxBytes);
  if (hasUnsafeCharacter(value)) {
    throw new InboundMessageError(
      `"${field}" contains a control character (U+0000–U+001F, U+007F) or an unpaired surrogate.`,
    );
  }
}

/**
 * True when `value` nests objects and arrays deeper than `maxDepth`. Iterative, so a value
 * nested far deeper than the stack allows (JSON.parse builds those) is measured, not overflowed.
 */
export function exceedsDepth(value: unknown, maxDepth: number): boolean {
  const pending: Array<{ node: object; depth: number }> = [];
  if (typeof value === 'object' && value !== null) pending.push({ node: value, depth: 1 });
  while (pending.length > 0) {
    const { node, depth } = pending.pop()!;
    if (depth > maxDepth) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null)
        pending.push({ node: child, depth: depth + 1 });
    }
  }
  return false;
}

/** Checks a value's nesting against `maxDepth`; MessageLimitError names `field`. */
export function checkDepth(field: string, value: unknown, maxDepth: number): void {
  if (exceedsDepth(value, maxDepth)) throw new MessageLimitError(field, 'maxDepth', maxDepth);
}

/**
 * The edge check of `Coordinator.receive`: the message's event, ids, keys (explicit and those the
 * handlers' `businessKey` fields take from the payload) and payload depth, before anything is
 * computed from them or stored.
 */
export function checkInboundMessage(
  message: InboundMessage,
  limits: CompiledInboundLimits,
  catalog: AdapterCatalog,
): void {
  if (typeof message?.event !== 'string' || message.event.length === 0) {
    throw new InboundMessageError('"event" must be a non-empty string');
  }
  checkIdentifier('event', message.event, limits.maxEventBytes, 'maxEventBytes');
  for (const field of ['messageId', 'correlationKey', 'source'] as const) {
    const value = message[field];
    if (value === undefined || value === null || value === '') continue;
    checkIdentifier(field, String(value), limits.maxIdBytes, 'maxIdBytes');
  }
  if (message.boundTo) {
    if (!message.correlationKey) {
      throw new InboundMessageError('a bound answer ("boundTo") needs its correlation key.');
    }
    checkIdentifier(
      'boundTo.instanceId',
      String(message.boundTo.instanceId),
      limits.maxIdBytes,
      'maxIdBytes',
    );
    checkIdentifier(
      'boundTo.waitState',
      String(message.boundTo.waitState),
      limits.maxIdBytes,
      'maxIdBytes',
    );
  }
  // Before the business keys: computing them reads the payload.
  checkDepth('payload', message.payload, limits.maxDepth);
  if (message.businessKey !== undefined)
    checkDepth('businessKey', message.businessKey, limits.maxDepth);
  for (const key of businessKeysOf(message, catalog)) {
    if (Buffer.byteLength(key, 'utf8') > limits.maxBusinessKeyBytes) {
      throw new MessageLimitError('businessKey', 'maxBusinessKeyBytes', limits.maxBusinessKeyBytes);
    }
  }
}
