/**
 * A small least-recently-used cache of persisted state JSON, so hot instances are not read back
 * from the repository on every call. It only ever holds what was saved or loaded: the repository
 * stays the truth, and an evicted entry is simply read again.
 */
export class StateCache {
  private readonly entries = new Map<string, string>();

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

  set(instanceId: string, json: string): void {
    if (this.capacity <= 0) return;
    this.entries.delete(instanceId);
    this.entries.set(instanceId, json);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  delete(instanceId: string): void {
    this.entries.delete(instanceId);
  }
}
