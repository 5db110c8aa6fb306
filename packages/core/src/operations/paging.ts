import { OperationInvalidError } from '../errors';

/** Keyset cursors: the last key of a page, opaque to callers (base64url JSON). */
export function encodeCursor(key: string): string {
  return Buffer.from(JSON.stringify({ k: key })).toString('base64url');
}

export function decodeCursor(cursor: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k?: unknown };
    if (typeof parsed.k === 'string') return parsed.k;
  } catch {
    // reported below
  }
  throw new OperationInvalidError('cursor', 'not a cursor this API handed out');
}
