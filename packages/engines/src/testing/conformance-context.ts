import type { ConformanceServiceDoubles, ConformanceWorld } from './conformance-world';

/** What the suite's case groups share: worlds on fresh or reused SQLite files, the services. */
export interface ConformanceCaseContext {
  /** A new SQLite file for the test. */
  freshFile(): string;
  /** Opens a world (store, plugin, coordinator) on `file`. */
  open(file: string): Promise<ConformanceWorld>;
  /** Closes `world` (as an exiting process would) and opens a new one on the same file. */
  restart(world: ConformanceWorld, file: string): Promise<ConformanceWorld>;
  /** The current test's service doubles. */
  services(): ConformanceServiceDoubles;
  /** Starts `order` with an order number. */
  startOrder(world: ConformanceWorld, orderNumber: string, extra?: object): Promise<string>;
}
