import type { EngineStateRepository, ProcessEngine, PsiClock, Variables } from '@psi/core';
import {
  BpmnEnginePlugin,
  ReferenceEngine,
  type BpmnEnginePluginOptions,
  type InstanceSnapshot,
  type ProcessDefinition,
  type ReferenceEngineOptions,
} from '@psi/engines';

/** The engine of a test environment: PEAL, plus what a test drives and reads. */
export interface TestEngine extends ProcessEngine {
  /** Starts an instance of `definitionId`; resolves with its id. */
  start(definitionId: string, variables?: Variables): Promise<string>;
  getInstance(instanceId: string): Promise<InstanceSnapshot>;
  whenEnded(instanceId: string): Promise<InstanceSnapshot>;
  restore(): Promise<void>;
  stop(): Promise<void>;
}

/** What the environment hands an engine factory: the store's repository and the test clock. */
export interface TestEngineParts {
  /** PSI's store (`store.engineStates()`): instances survive `env.restart()`. */
  stateRepository: EngineStateRepository;
  /** The clock PSI runs on (the environment's TestClock): give it as the engine's timers and clock. */
  clock: PsiClock;
  /** Collects background failures into `env.problems`. */
  onError: (error: unknown) => void;
}

/** Builds the engine of an environment (again after a restart). */
export type TestEngineFactory = (parts: TestEngineParts) => TestEngine;

/** The reference engine with `definitions` (from `defineProcess`), on the test clock. */
export function referenceEngine(
  definitions: readonly ProcessDefinition[],
  options: Pick<ReferenceEngineOptions, 'cacheSize'> = {},
): TestEngineFactory {
  return ({ stateRepository, clock, onError }) =>
    new ReferenceEngine({
      ...options,
      definitions,
      stateRepository,
      timers: clock,
      clock: () => clock.now(),
      onError,
    });
}

/**
 * The bpmn-engine plugin with `definitions` (BPMN 2.0 XML), on the test clock: PSI's deadlines,
 * TTLs and backoff, the plugin's wake-ups and the BPMN timer events (boundary, intermediate,
 * behind an event-based gateway) all fire when the clock moves past them. bpmn-elements arms a
 * timer from the real time, so its due time is the duration give or take the milliseconds that
 * took.
 */
export function bpmnEngine(
  definitions: NonNullable<BpmnEnginePluginOptions['definitions']>,
  options: Omit<
    BpmnEnginePluginOptions,
    'definitions' | 'stateRepository' | 'wakeTimers' | 'clock' | 'onError'
  > = {},
): TestEngineFactory {
  return ({ stateRepository, clock, onError }) =>
    new BpmnEnginePlugin({
      ...options,
      definitions,
      stateRepository,
      wakeTimers: clock,
      clock: () => clock.now(),
      onError,
    });
}
