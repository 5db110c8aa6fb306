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

/**
 * The canonical business key a handler's `businessKey` mapping (payload field → process
 * variable) gives for `variables`; null when a variable it names has no value.
 */
export function businessKeyFromVariables(
  mapping: Readonly<Record<string, string>>,
  variables: Readonly<Record<string, unknown>>,
): string | null {
  const fields = pickFields(
    Object.fromEntries(
      Object.entries(mapping).map(([field, variable]) => [field, variables[variable]]),
    ),
    Object.keys(mapping),
  );
  return fields ? canonicalBusinessKey(fields) : null;
}
