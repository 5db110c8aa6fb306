import type { ConformanceServiceDoubles, ConformanceWorld } from './conformance-world';

/** What the suite's case groups share: worlds on throwaway stores, the services. */
export interface ConformanceCaseContext {
  /** Opens a world (store, plugin, coordinator on a test clock) on a new store. */
  open(): Promise<ConformanceWorld>;
  /** Closes `world` (as an exiting process would) and opens it again on the same store. */
  restart(world: ConformanceWorld): Promise<ConformanceWorld>;
  /** The current test's service doubles. */
  services(): ConformanceServiceDoubles;
  /** Starts `order` with an order number. */
  startOrder(world: ConformanceWorld, orderNumber: string, extra?: object): Promise<string>;
}
