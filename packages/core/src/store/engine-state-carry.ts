import { AsyncLocalStorage } from 'node:async_hooks';
import type { EntityManager } from 'typeorm';

/** An engine's state row, as `EngineStateRepository.save` writes it. */
export interface CarriedState {
  engine: string;
  instanceId: string;
  state: string;
  updatedAt: number;
  running: boolean;
}

/**
 * Engine states saved inside a flow step that commits anyway right after: a delivery signals the
 * engine and then records the delivery; a step's completion signals the engine, whose wait state
 * then releases what is parked. Inside such a scope a save does not commit on its own: the row
 * is carried into the next unit of work this store runs in the scope (the delivery's record, the
 * release's read), so the engine's state and PSI's record of what caused it commit together —
 * one commit fewer per signal, and a crash can no longer fall between them. What no unit took
 * by the end of the scope is written then, in a unit of its own.
 *
 * A carried save resolves before it commits, so loads in this process read it from the store's
 * memory until a unit commits it; a save outside a scope is read only once it committed (what
 * the node decides on it must not commit before it). A later save of the same instance may be
 * committed by another unit first. Units therefore write an instance's latest saved state when
 * they write (PsiStore keeps it until committed), never the one of their scope: whichever
 * commits last, the row ends at the newest state (PostgreSQL's row lock orders two writers).
 *
 * Saves are recognised by the scope (AsyncLocalStorage follows the engine's async calls); rows
 * are taken only by the units the flow runs with its carry, never by a unit that an engine
 * event started meanwhile. That keeps the order other nodes rely on: a release reads what is
 * parked only after the state that put the instance at its wait state is visible to them
 * (a unit that wrote the state and read in one transaction would read before the state
 * commits, and an answer parked meanwhile by a node that still saw the old state would stay
 * parked). Rows are carried per store: another store's saves in the scope go their normal way.
 */
/**
 * Work that commits in the same transaction as the states of a scope (PsiStore
 * rideWithCarriedStates): what an engine event raised in the scope must record about the change
 * those states make, written neither before them nor in a commit of its own.
 */
export interface Rider {
  run(tx: EntityManager): Promise<void>;
  committed(): void;
  failed(error: unknown): void;
}

/** What a unit takes from the scope: the states saved so far and the work riding with them. */
export interface CarriedWork {
  keys: string[];
  riders: Rider[];
}

export class EngineStateCarry {
  /** The instances whose state was saved in the scope and no unit took yet. */
  private readonly keys = new Set<string>();
  private riders: Rider[] = [];
  private open = true;
  private undone = false;
  private done = false;
  private settle!: (committed: boolean) => void;
  /**
   * Resolves once the scope ended and every state saved in it committed (true), or failed to or
   * was discarded (false): work an engine event started inside the scope waits on it before it
   * commits a record of that state, and records nothing of a state that never became durable.
   */
  readonly settled = new Promise<boolean>((resolve) => (this.settle = resolve));

  constructor(readonly owner: object) {}

  /** Whether saves to `owner`'s repository are carried now. */
  carries(owner: object): boolean {
    return this.open && this.owner === owner;
  }

  add(key: string): void {
    this.keys.add(key);
  }

  /** Work to commit with the scope's next carried unit (or its last, when the scope ends). */
  addRider(rider: Rider): void {
    this.riders.push(rider);
  }

  /** Every instance carried so far and the work riding with them, for the unit that writes them. */
  take(): CarriedWork {
    const taken = { keys: [...this.keys], riders: this.riders };
    this.keys.clear();
    this.riders = [];
    return taken;
  }

  /**
   * What a unit took and did not commit (it failed): carried again. False when the scope is
   * closed (the caller writes it).
   */
  giveBack(taken: CarriedWork): boolean {
    if (!this.open) return false;
    for (const key of taken.keys) this.keys.add(key);
    this.riders.unshift(...taken.riders);
    return true;
  }

  /** Ends the scope; returns what no unit took. */
  close(): CarriedWork {
    this.open = false;
    return this.take();
  }

  /**
   * Ends the scope with its states undone (see {@link discardingCarriedStates}); returns what no
   * unit took, which nothing writes either.
   */
  discard(): CarriedWork {
    this.undone = true;
    return this.close();
  }

  /** Whether the scope's states were discarded. */
  get discarded(): boolean {
    return this.undone;
  }

  /** The scope's states are written (or could not be, or were discarded): {@link settled}. */
  markSettled(committed: boolean): void {
    this.done = true;
    this.settle(committed && !this.undone);
  }

  /** Whether {@link settled} has resolved. */
  get isSettled(): boolean {
    return this.done;
  }
}

const DISCARDS = Symbol('psi.discardsCarriedStates');

/**
 * Marks `error`, thrown by a carried unit, as undoing the scope: the unit rolls back, and the
 * engine states carried in the scope are not written by any later unit (they are forgotten).
 * For a flow that finds, in the unit meant to commit a signal's state with its record, that the
 * record must not be written (the invocation was taken over by another node, whose run moves
 * the instance): the state would otherwise be written on its own and could overwrite that
 * node's.
 */
export function discardingCarriedStates<E extends Error>(error: E): E {
  Object.defineProperty(error, DISCARDS, { value: true });
  return error;
}

/** Whether `error` undoes the carried states of its scope (see {@link discardingCarriedStates}). */
export function discardsCarriedStates(error: unknown): boolean {
  return typeof error === 'object' && error !== null && DISCARDS in error;
}

const current = new AsyncLocalStorage<EngineStateCarry>();

/** The carry scope the caller runs in, if any. */
export function currentCarry(): EngineStateCarry | undefined {
  return current.getStore();
}

/** Runs `work` in `carry`'s scope. */
export function runCarrying<T>(carry: EngineStateCarry, work: () => Promise<T>): Promise<T> {
  return current.run(carry, work);
}

/** Names an instance's state row. */
export function stateKey(row: Pick<CarriedState, 'engine' | 'instanceId'>): string {
  return `${row.engine}\u0000${row.instanceId}`;
}
