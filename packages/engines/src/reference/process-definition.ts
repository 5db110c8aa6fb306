import type { Variables } from '@psi/core';

/** Maps a name (transition or fault code) to the step it leads to. */
export type StepTargets = Readonly<Record<string, string>>;

/**
 * Runs code and moves on at once via `next`. `run` gets a copy of the variables and returns the
 * variables to merge (or nothing); it may be async. A throw ends the instance `failed`.
 */
export interface ScriptStep {
  readonly kind: 'script';
  readonly run: (variables: Readonly<Variables>) => Variables | void | Promise<Variables | void>;
  readonly next: string;
}

/**
 * A step PSI serves: a wait state from the engine's point of view. Entering it raises
 * `service-step-entered`; the instance stays until it is signalled.
 */
export interface ServiceStep {
  readonly kind: 'service';
  /** Where a signal without a transition goes. */
  readonly next?: string;
  /** Named ways out: transition name -> step. */
  readonly transitions?: StepTargets;
  /** Faults caught here: fault code -> step; checked before the definition's `faults`. */
  readonly faults?: StepTargets;
}

/** Waits for a signal (a person, an external system); entering it raises `wait-state-entered`. */
export interface WaitStep {
  readonly kind: 'wait';
  readonly next?: string;
  readonly transitions?: StepTargets;
  readonly faults?: StepTargets;
}

/** Waits `durationMs`, then leaves via `next`. The due time is persisted and re-armed on restore. */
export interface TimerStep {
  readonly kind: 'timer';
  readonly durationMs: number;
  readonly next: string;
  /** Faults (e.g. an SLA breach) caught while the timer runs. */
  readonly faults?: StepTargets;
}

/** Completes the instance. */
export interface EndStep {
  readonly kind: 'end';
}

/** One step of a process definition. */
export type StepDefinition = ScriptStep | ServiceStep | WaitStep | TimerStep | EndStep;

/** The step kinds an instance can rest at (everything but `script` and `end`). */
export type RestingStepKind = 'service' | 'wait' | 'timer';

/**
 * A process for the reference engine: steps by id, where to start, an optional SLA and
 * process-level fault handlers. Written in code; only instance state is ever persisted.
 * Build it with `defineProcess`, which validates it.
 */
export interface ProcessDefinition {
  readonly id: string;
  /** The first step entered. */
  readonly start: string;
  /**
   * SLA per instance, from its start; on expiry the fault `PSI_SLA_EXCEEDED` is raised.
   * `start(…, { slaMs })` gives one instance its own.
   */
  readonly slaMs?: number;
  /** Process-level fault catch: fault code -> step, used when the current step has no handler. */
  readonly faults?: StepTargets;
  readonly steps: Readonly<Record<string, StepDefinition>>;
}
