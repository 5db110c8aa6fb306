import type { EngineStateRepository, PsiLoggerOption } from '@psi/core';
import type { AnyStateMachine } from 'xstate';
import type { EngineTimers } from '../shared/engine-timers';
import type { XStateProcessDefinition } from './xstate-definition';

/** How to build an {@link XStatePlugin}. */
export interface XStatePluginOptions {
  /** The machines this plugin can start and continue; each under its `id` (or the machine's). */
  definitions: ReadonlyArray<AnyStateMachine | XStateProcessDefinition>;
  /**
   * Where instance state is kept, as JSON under engine name `xstate`. Give PSI's store
   * (`store.engineStates()`) to survive restarts. @default a new InMemoryEngineStateRepository
   */
  stateRepository?: EngineStateRepository;
  /**
   * The event a signal without a `transition` sends, e.g. when an adapter's `callService` returns
   * no transition: a service state usually declares `on: { done: 'next-state' }`. @default 'done'
   */
  defaultEvent?: string;
  /** Timer functions for delayed events (`after`). @default the global setTimeout/clearTimeout */
  timers?: EngineTimers;
  /** Epoch ms now; must agree with `timers`. @default Date.now */
  clock?: () => number;
  /**
   * Receives failures of background work: listener exceptions, delayed events that could not be
   * processed, instances `restore` could not load. @default logs with `logger`
   */
  onError?: (error: unknown) => void;
  /**
   * Where background failures are logged (at error) when there is no `onError`: a pino logger
   * or any `PsiLogger` (the coordinator's fits). @default the console
   */
  logger?: PsiLoggerOption;
}

/** Options of `XStatePlugin.start`. */
export interface XStateStartOptions {
  /** The new instance's id, e.g. a business id. @default crypto.randomUUID() */
  instanceId?: string;
}
