/**
 * What PSI does to a log line's fields before they reach your logger: values under keys that
 * name payloads, variables or credentials are replaced, and bearer tokens inside strings too.
 * Applied to the fields and bindings PSI logs, not to the text of messages it writes itself
 * (which never hold payloads), except for bearer tokens.
 */
export interface LogRedactionOptions {
  /**
   * Keys (exact, case-insensitive) or patterns whose values are replaced, on top of the
   * defaults: payload, variables, data, body, outputs, headers named authorization / cookie /
   * set-cookie, and any key containing token, secret, password, credential or apikey.
   */
  keys?: Array<string | RegExp>;
  /** Redact only `keys`, not the defaults. @default false */
  replaceDefaults?: boolean;
  /** What a redacted value becomes. @default '[Redacted]' */
  censor?: string;
}

const DEFAULT_KEYS: Array<string | RegExp> = [
  'payload',
  'variables',
  'data',
  'body',
  'outputs',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  /token|secret|passw(or)?d|credential|api[-_]?key/i,
];

const BEARER = /\b(Bearer|Basic)\s+[^\s"',;]+/gi;
const MAY_HOLD_CREDENTIAL = /(bearer|basic)\s/i;
/** Nested this deep, a value is replaced rather than walked (lines are small; cycles end). */
const MAX_DEPTH = 8;

/** Redaction compiled once per logger: a function from fields to redacted copy. */
export interface Redactor {
  fields(value: object): object;
  text(message: string): string;
}

export function compileRedaction(options: LogRedactionOptions | false | undefined): Redactor {
  if (options === false) return { fields: (v) => v, text: (m) => m };
  const keys = [...(options?.replaceDefaults ? [] : DEFAULT_KEYS), ...(options?.keys ?? [])];
  const exact = new Set(
    keys.filter((k): k is string => typeof k === 'string').map((k) => k.toLowerCase()),
  );
  const patterns = keys.filter((k): k is RegExp => k instanceof RegExp);
  const censor = options?.censor ?? '[Redacted]';
  const secretKey = (key: string): boolean =>
    exact.has(key.toLowerCase()) || patterns.some((p) => p.test(key));
  const text = (s: string): string =>
    MAY_HOLD_CREDENTIAL.test(s) ? s.replace(BEARER, `$1 ${censor}`) : s;
  const walk = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return text(value);
    if (value === null || typeof value !== 'object') return value;
    if (depth >= MAX_DEPTH) return censor;
    if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1));
    // Errors, requests, buffers, dates: left to the logger's serializers, not walked.
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return value;
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      out[key] = v !== undefined && secretKey(key) ? censor : walk(v, depth + 1);
    }
    return out;
  };
  return { fields: (value) => walk(value, 0) as object, text };
}
