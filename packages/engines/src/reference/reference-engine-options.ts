import type { EngineStateRepository, PsiLoggerOption } from '@psi/core';
import type { EngineTimers } from '../shared/engine-timers';
import type { ProcessDefinition } from './process-definition';

/** How to build a {@link ReferenceEngine}. */
export interface ReferenceEngineOptions {
  /** The processes this engine can start and continue, usually built with `defineProcess`. */
  definitions: readonly ProcessDefinition[];
  /**
   * Where instance state is kept, as JSON under engine name `reference`. Give PSI's store to
   * survive restarts. @default a new InMemoryEngineStateRepository
   */
  stateRepository?: EngineStateRepository;
  /** Timer functions for timer steps and SLAs. @default the global setTimeout/clearTimeout */
  timers?: EngineTimers;
  /** Epoch ms now; must agree with `timers`. @default Date.now */
  clock?: () => number;
  /** Instance states kept parsed-ready in memory; the repository stays the truth. @default 100 */
  cacheSize?: number;
  /**
   * Receives failures of background work: listener exceptions, timers that could not be
   * processed, instances `restore` could not load. @default logs with `logger`
   */
  onError?: (error: unknown) => void;
  /**
   * Where background failures are logged (at error) when there is no `onError`: a pino logger
   * or any `PsiLogger` (the coordinator's fits). @default the console
   */
  logger?: PsiLoggerOption;
}

/** Options of `ReferenceEngine.start`. */
export interface StartOptions {
  /** The new instance's id, e.g. a business id. @default crypto.randomUUID() */
  instanceId?: string;
  /**
   * This instance's SLA in ms from its start, overriding the definition's `slaMs` (e.g. a
   * deadline per produced item): on expiry `PSI_SLA_EXCEEDED` is raised where the instance
   * rests, caught by the definition's `faults`, else the instance is aborted.
   * @default the definition's `slaMs` (none when it has none)
   */
  slaMs?: number;
}
