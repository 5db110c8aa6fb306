/** Process variables as the engine stores them: JSON-compatible values keyed by name. */
export type Variables = Record<string, unknown>;

/** How a wait state is left: the transition to take, variables to write first, or a fault to raise. */
export interface SignalOptions {
  /** Named transition out of the wait state; the engine's default transition when omitted. */
  transition?: string;
  /** Variables merged into the instance before it moves on. */
  variables?: Variables;
  /** A fault (e.g. an SLA breach) the process can catch; takes precedence over `transition`. */
  fault?: { code: string; message: string };
  /**
   * Names this signal so that it takes effect once. An engine that keeps signal ids (one that
   * has {@link ProcessEngine.hasAppliedSignal}) ignores a signal whose id it already applied to
   * the instance, wherever the instance is now: the repeat resolves and changes nothing, even
   * when the instance has come back to the same wait state or has ended. PSI names every signal
   * it may have to repeat after a crash; engines without signal ids ignore the field.
   */
  signalId?: string;
}

/** Raised by the engine when an instance reaches a service step: PSI's "ActionHandler" hook. */
export interface ServiceStepEnteredEvent {
  type: 'service-step-entered';
  instanceId: string;
  /** The step (activity) id; adapters are bound to it. */
  step: string;
  /** Unique per entry into the step; lets a re-emitted event after a restart be recognised. */
  activationId: string;
}

export interface WaitStateEnteredEvent {
  type: 'wait-state-entered';
  instanceId: string;
  waitState: string;
}

export interface InstanceEndedEvent {
  type: 'instance-ended';
  instanceId: string;
  /** `completed`, `aborted` or `failed`. */
  outcome: 'completed' | 'aborted' | 'failed';
}

export type EngineEvent = ServiceStepEnteredEvent | WaitStateEnteredEvent | InstanceEndedEvent;

export type EngineEventListener = (event: EngineEvent) => void;

/**
 * PEAL, the Process Engine Abstraction Layer: what PSI needs from any engine.
 *
 * A service step is a wait state from the engine's point of view: the engine raises
 * `service-step-entered`, PSI runs the adapter and later signals that same step with the
 * adapter's variables and transition. Plugins refuse a signal for a state the instance is not in
 * by throwing {@link EngineSignalRejectedError}.
 */
export interface ProcessEngine {
  /** Stable plugin name, e.g. `reference`, `bpmn-engine`, `xstate`. */
  readonly name: string;
  getVariables(instanceId: string): Promise<Variables>;
  setVariables(instanceId: string, variables: Variables): Promise<void>;
  /** The wait states (including service steps) the instance is in now; empty once it ended. */
  getWaitStates(instanceId: string): Promise<readonly string[]>;
  /** Leaves `waitState`; throws EngineSignalRejectedError when the instance is not there. */
  signal(instanceId: string, waitState: string, options?: SignalOptions): Promise<void>;
  /** Registers a listener for engine events; returns the function that removes it. */
  subscribe(listener: EngineEventListener): () => void;
  /**
   * Optional: whether the instance took the signal named `signalId` (see
   * {@link SignalOptions.signalId}); engines that have it keep the ids of an instance's latest
   * signals with its state and apply each id once. PSI asks it to settle a signal whose
   * bookkeeping a crash interrupted, instead of inferring from where the instance is now.
   * @throws InstanceNotFoundError for an unknown instance
   */
  hasAppliedSignal?(instanceId: string, signalId: string): Promise<boolean>;
  /**
   * Optional: whether the instance has ended (completed, aborted, failed). PSI asks it about an
   * instance with leftovers (parked answers, a timeout waiting to be signalled) that is at none
   * of its wait states, to settle them at once when a crash lost the `instance-ended` event;
   * without it they wait for their TTL. The shipped engines have it.
   * @throws InstanceNotFoundError for an unknown instance
   */
  isEnded?(instanceId: string): Promise<boolean>;
}

/** DI token for {@link ProcessEngine}. */
export const ProcessEngine = Symbol.for('@psi/core/ProcessEngine');
