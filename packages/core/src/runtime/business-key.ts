/**
 * A business key as stored and compared: the fields sorted by name, values as strings, so that
 * `{ orderNumber: 42 }` from a variable and `{ orderNumber: "42" }` from a payload match.
 */
export function canonicalBusinessKey(fields: Record<string, unknown>): string {
  const entries = Object.keys(fields)
    .sort()
    .map((name) => [name, String(fields[name])]);
  return JSON.stringify(entries);
}

/** Picks `names` from `source`; `undefined` when any of them is missing. */
export function pickFields(
  source: unknown,
  names: readonly string[],
): Record<string, unknown> | undefined {
  if (typeof source !== 'object' || source === null) return undefined;
  const record = source as Record<string, unknown>;
  const picked: Record<string, unknown> = {};
  for (const name of names) {
    if (record[name] === undefined || record[name] === null) return undefined;
    picked[name] = record[name];
  }
  return picked;
}
