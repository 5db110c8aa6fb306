/**
 * Where PEAL plugins persist instance state, so that waiting instances need no live objects in
 * memory and survive a restart. PSI's store implements it (table `psi_engine_instance`), so engine
 * state lives in the same SQLite file or PostgreSQL database as correlation state.
 */
export interface EngineStateRepository {
  save(engine: string, instanceId: string, state: string): Promise<void>;
  /** The saved state, or `undefined` when the instance is unknown. */
  load(engine: string, instanceId: string): Promise<string | undefined>;
  delete(engine: string, instanceId: string): Promise<void>;
  /** Ids of every saved instance of `engine`. */
  list(engine: string): Promise<string[]>;
}

/** DI token for {@link EngineStateRepository}. */
export const EngineStateRepository = Symbol.for('@psi/core/EngineStateRepository');

/** A repository kept in a Map: for unit tests and for engines whose instances need not survive. */
export class InMemoryEngineStateRepository implements EngineStateRepository {
  private readonly states = new Map<string, string>();

  async save(engine: string, instanceId: string, state: string): Promise<void> {
    this.states.set(`${engine}\u0000${instanceId}`, state);
  }
  async load(engine: string, instanceId: string): Promise<string | undefined> {
    return this.states.get(`${engine}\u0000${instanceId}`);
  }
  async delete(engine: string, instanceId: string): Promise<void> {
    this.states.delete(`${engine}\u0000${instanceId}`);
  }
  async list(engine: string): Promise<string[]> {
    const prefix = `${engine}\u0000`;
    return [...this.states.keys()]
      .filter((k) => k.startsWith(prefix))
      .map((k) => k.slice(prefix.length));
  }
}
