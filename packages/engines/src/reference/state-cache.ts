/** Loads of one instance in flight, and whether a write overtook them. */
interface InFlightLoads {
  count: number;
  overtaken: boolean;
}

/**
 * A small least-recently-used cache of persisted state JSON, so hot instances are not read back
 * from the repository on every call. It only ever holds what was saved or loaded: the repository
 * stays the truth, and an evicted entry is simply read again.
 *
 * A load that a save overtakes must not be cached: it may have read the state from before the
 * save (another transaction, or a slower connection) and would then hide the newer state for good.
 */
export class StateCache {
  private readonly entries = new Map<string, string>();
  private readonly loads = new Map<string, InFlightLoads>();

  /** @param capacity entries kept; 0 turns caching off. */
  constructor(private readonly capacity: number) {}

  get(instanceId: string): string | undefined {
    const json = this.entries.get(instanceId);
    if (json !== undefined) {
      this.entries.delete(instanceId);
      this.entries.set(instanceId, json);
    }
    return json;
  }

  /** The cached state, else what `load` reads, cached unless a write came in meanwhile. */
  async readThrough(
    instanceId: string,
    load: () => Promise<string | undefined>,
  ): Promise<string | undefined> {
    const cached = this.get(instanceId);
    if (cached !== undefined) return cached;
    const inFlight = this.loads.get(instanceId) ?? { count: 0, overtaken: false };
    this.loads.set(instanceId, inFlight);
    inFlight.count++;
    try {
      const json = await load();
      if (json !== undefined && !inFlight.overtaken) this.store(instanceId, json);
      return json;
    } finally {
      if (--inFlight.count === 0) this.loads.delete(instanceId);
    }
  }

  /** Records state just saved. */
  set(instanceId: string, json: string): void {
    this.overtakeLoads(instanceId);
    this.store(instanceId, json);
  }

  delete(instanceId: string): void {
    this.overtakeLoads(instanceId);
    this.entries.delete(instanceId);
  }

  private overtakeLoads(instanceId: string): void {
    const inFlight = this.loads.get(instanceId);
    if (inFlight) inFlight.overtaken = true;
  }

  private store(instanceId: string, json: string): void {
    if (this.capacity <= 0) return;
    this.entries.delete(instanceId);
    this.entries.set(instanceId, json);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
