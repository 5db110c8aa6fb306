/**
 * Metric attribute sets made once per key (event, service, step, reason) instead of once per
 * record: an instrument reads them and keeps none, so one frozen object serves every record.
 * Keys come from the catalog and the transports (bounded), but an inbound answer names its own
 * event: past `MAX_KEYS` the sets are made anew each time instead of kept.
 */
export class AttributeSets<T extends object> {
  private static readonly MAX_KEYS = 1_024;
  private readonly sets = new Map<string, T>();

  constructor(private readonly make: (key: string) => T) {}

  of(key: string): T {
    let set = this.sets.get(key);
    if (set === undefined) {
      set = Object.freeze(this.make(key));
      if (this.sets.size < AttributeSets.MAX_KEYS) this.sets.set(key, set);
    }
    return set;
  }
}
