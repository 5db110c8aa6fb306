/**
 * Where PEAL plugins persist instance state, so that waiting instances need no live objects in
 * memory and survive a restart. PSI's store implements it (table `psi_engine_instance`), so engine
 * state lives in the same SQLite file or PostgreSQL database as correlation state.
 */
export interface EngineStateRepository {
  /**
   * Saves the instance's state. `index.running` says whether it still runs (has not ended), so
   * `list(engine, { running: true })` can skip ended instances; a plugin that does not say is
   * taken as running.
   */
  save(engine: string, instanceId: string, state: string, index?: EngineStateIndex): Promise<void>;
  /** The saved state, or `undefined` when the instance is unknown. */
  load(engine: string, instanceId: string): Promise<string | undefined>;
  delete(engine: string, instanceId: string): Promise<void>;
  /**
   * Ids of the saved instances of `engine`; with `{ running: true }`, only those saved as
   * running (what `restore()` needs: its cost then does not grow with the ended history). With
   * `limit`, one page in id order after `after` (what `restore()` reads, so its memory stays
   * flat at any population).
   */
  list(engine: string, filter?: EngineStateListFilter): Promise<string[]>;
}

/** Which saved instances {@link EngineStateRepository.list} returns. */
export interface EngineStateListFilter {
  /** Only those saved as running (true) or ended (false). @default both */
  running?: boolean;
  /** Only ids after this one (in the repository's id order, which `limit` pages through). */
  after?: string;
  /** At most this many, in id order. @default all */
  limit?: number;
}

/** What a repository indexes of a saved state, beside the state itself. */
export interface EngineStateIndex {
  /** False once the instance ended (completed, aborted, failed). @default true */
  running?: boolean;
}

/** DI token for {@link EngineStateRepository}. */
export const EngineStateRepository = Symbol.for('@psi/core/EngineStateRepository');

/** A repository kept in a Map: for unit tests and for engines whose instances need not survive. */
export class InMemoryEngineStateRepository implements EngineStateRepository {
  private readonly states = new Map<string, { state: string; running: boolean }>();

  async save(
    engine: string,
    instanceId: string,
    state: string,
    index: EngineStateIndex = {},
  ): Promise<void> {
    this.states.set(`${engine}\u0000${instanceId}`, { state, running: index.running ?? true });
  }
  async load(engine: string, instanceId: string): Promise<string | undefined> {
    return this.states.get(`${engine}\u0000${instanceId}`)?.state;
  }
  async delete(engine: string, instanceId: string): Promise<void> {
    this.states.delete(`${engine}\u0000${instanceId}`);
  }
  async list(engine: string, filter: EngineStateListFilter = {}): Promise<string[]> {
    const prefix = `${engine}\u0000`;
    const ids = [...this.states.entries()]
      .filter(
        ([k, v]) =>
          k.startsWith(prefix) && (filter.running === undefined || v.running === filter.running),
      )
      .map(([k]) => k.slice(prefix.length));
    if (filter.after === undefined && filter.limit === undefined) return ids;
    const after = filter.after;
    return ids
      .filter((id) => after === undefined || id > after)
      .sort()
      .slice(0, filter.limit);
  }
}
