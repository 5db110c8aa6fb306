/**
 * One fidelity case: a BPMN document, the variables an instance starts with, and the answers it
 * gets at its wait states, in order. The same answers are given to the model on bare bpmn-engine
 * and through PSI; both runs must take the same path and end with the same variables.
 */
export interface FidelityScenario {
  name: string;
  /** A real model from another project, read from PSI_BPMN_FIDELITY_MODELS (not committed). */
  real?: boolean;
  /** The BPMN XML. */
  source: string;
  /** The executable process to start. */
  processId: string;
  variables?: Record<string, unknown>;
  answers: FidelityAnswer[];
  /** `environment.services` of both runs (functions conditions and scripts call). */
  services?: Record<string, unknown>;
  /**
   * Service tasks that run bpmn-engine's own implementation (`implementation=` a service of
   * `services`) instead of being PSI service steps (the plugin's `serviceSteps` option).
   */
  engineServiceTasks?: string[];
  /** How the instance ends. @default 'completed' */
  outcome?: 'completed' | 'failed' | 'aborted' | 'running';
  /** Where a `running` instance still waits at the end (sorted activity ids). */
  waitsAtEnd?: string[];
  /**
   * The first answer (a `message` at a message or signal start event) starts the instance: on
   * bare bpmn-engine it is given to the start event; through PSI it is a message with no
   * correlation key to `receive`, which starts the process. @default false
   */
  startedByMessage?: boolean;
}

/** One answer at one wait state, given the way a real system gives it. */
export interface FidelityAnswer {
  /** The activity it answers (the first entry of it, for a multi-instance activity). */
  at: string;
  /**
   * `message`: a message from outside, through the coordinator's `receive` (PSI) — the
   *   instance's wait state declared what it waits for; `service`: the service task's adapter
   *   calls its service, whose reply is the answer; `human`: a user completes a user or manual
   *   task (or an operator a call activity): a direct signal. `fault`: the step fails with
   *   `faultCode` (a BPMN error at the activity).
   */
  by: 'message' | 'service' | 'human' | 'fault';
  /** For `message`: the event name. @default the message's (or signal's) name in the model */
  event?: string;
  /** The answer's fields the instance keeps as variables. */
  variables?: Record<string, unknown>;
  /** The transition taken (written to `psiTransition`). */
  transition?: string;
  faultCode?: string;
}
