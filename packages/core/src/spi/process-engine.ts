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
  /**
   * Which entry of the wait state to leave when several are active at once (a BPMN
   * multi-instance activity): the `activationId` its `service-step-entered` or
   * `wait-state-entered` event named. Without it the engine leaves the oldest entry.
   */
  activationId?: string;
  /**
   * The answer itself, for engines that hand a message to the activity it completes
   * (bpmn-engine: the signal's message, the activity's output); `variables` are still what the
   * instance keeps. Engines without such a notion ignore it.
   */
  payload?: unknown;
}

/** Raised by the engine when an instance reaches a service step: PSI's "ActionHandler" hook. */
export interface ServiceStepEnteredEvent {
  type: 'service-step-entered';
  instanceId: string;
  /** The step (activity) id; adapters are bound to it. */
  step: string;
  /** Unique per entry into the step; lets a re-emitted event after a restart be recognised. */
  activationId: string;
  /**
   * True when the engine raises the event again for an instance it restored resting at the
   * step (`restore()`): PSI then looks for the invocation it recorded before anything else.
   * Optional: a live entry is run at once and its invocation recorded with its first request;
   * an engine that leaves it unset on a restore stays correct, its adapters merely run up to
   * their first call before PSI finds the invocation recorded.
   */
  resumed?: boolean;
}

/**
 * A message a wait state waits for, as the engine's model declares it (a BPMN message catch
 * event, receive task, message boundary event or event-based gateway): PSI records an
 * expectation for it when the wait state is entered, so an answer reaches the wait state
 * through `receive` with no service call before it. A wait binding in code
 * (`@WaitBinding`) adds what the model does not say (payload DTO, mapping, timeout).
 */
export interface AwaitedMessage {
  /** The event name answers carry (BPMN: the message's or signal's `name`). */
  event: string;
  /**
   * Business-key values the answer must carry (its `businessKey`, or the handler's payload
   * fields), as the engine evaluated them where the wait state is (BPMN: a Zeebe
   * `subscription correlationKey`). Without it the answer is addressed by the instance id as
   * its correlation key.
   */
  businessKey?: Record<string, unknown>;
  /**
   * The wait state an answer is signalled at, when it is not the one entered (the catch events
   * behind a BPMN event-based gateway). @default the entered wait state
   */
  waitState?: string;
  /**
   * The wait state stays after each answer and takes every one, in arrival order (a BPMN
   * non-interrupting message boundary event). @default false: the first answer leaves it
   */
  repeats?: boolean;
}

export interface WaitStateEnteredEvent {
  type: 'wait-state-entered';
  instanceId: string;
  waitState: string;
  /**
   * Unique per entry into the wait state (per instance); lets a re-emitted event after a restart
   * be recognised. Engines give it so PSI can record what a wait state waits for.
   */
  activationId?: string;
  /**
   * What the model says this entry waits for; see {@link AwaitedMessage}. Absent: the model says
   * nothing (wait bindings at the wait state still apply). Empty: another entry declares what
   * reaches this one (a catch event behind a BPMN event-based gateway), so nothing is recorded
   * for it.
   */
  awaits?: readonly AwaitedMessage[];
}

/**
 * Raised when an instance leaves an entry of a wait state (optional for engines): PSI closes
 * what it recorded for that entry, so answers for it are not delivered to a later one.
 */
export interface WaitStateLeftEvent {
  type: 'wait-state-left';
  instanceId: string;
  waitState: string;
  activationId: string;
}

export interface InstanceEndedEvent {
  type: 'instance-ended';
  instanceId: string;
  /** `completed`, `aborted` or `failed`. */
  outcome: 'completed' | 'aborted' | 'failed';
}

export type EngineEvent =
  ServiceStepEnteredEvent | WaitStateEnteredEvent | WaitStateLeftEvent | InstanceEndedEvent;

/**
 * Receives an engine's events. It may return the promise of the work an event started (the
 * type stays `void` so that any listener fits): an engine that paces itself on its listeners,
 * as `restore()` raising the events of a million waiting instances page by page does, waits
 * for it; its failure goes to the engine's `onError`.
 */
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
  /**
   * Optional: the event names the engine's models wait for by themselves (see
   * {@link AwaitedMessage}: BPMN message and signal names). An answer whose event neither an
   * adapter, a wait binding nor a model declares can never be delivered: PSI dead-letters it at
   * once (`unknown-event`). An engine that raises `awaits` should have it, or the early answers
   * of its models' waits are taken for unknown.
   */
  declaredEvents?(): Promise<readonly string[]>;
  /**
   * Optional, with {@link ProcessEngine.startByMessage}: the events that start a new instance
   * (BPMN message and signal start events of executable processes), one entry per process that
   * starts on it. An inbound message for such an event that no waiting instance takes starts
   * one through `receive` (see {@link MessageStart}); engines without it are unaffected. Its
   * events belong in {@link ProcessEngine.declaredEvents} too, or they are `unknown-event`.
   */
  messageStarts?(): Promise<readonly MessageStart[]>;
  /**
   * Optional: starts, under `options.instanceId`, the one process that starts on `event`, with
   * `variables` and `payload` handed to its start event (BPMN: the start event's message), and
   * resolves with the instance id once its first state is persisted. PSI derives the id from
   * the message's id and calls it once per message (see `correlation/message-starts.ts`).
   * @throws an error when an instance with that id exists, or when not exactly one process
   *   starts on `event`
   */
  startByMessage?(
    event: string,
    variables: Variables,
    options: { instanceId: string; payload?: unknown },
  ): Promise<string>;
}

/** A process an event starts (see {@link ProcessEngine.messageStarts}). */
export interface MessageStart {
  /** The event name inbound messages carry (BPMN: the message's or signal's `name`). */
  event: string;
  /** The process it starts. */
  definitionId: string;
  /** The element that catches it (BPMN: the start event's id). */
  startEvent: string;
}

/** DI token for {@link ProcessEngine}. */
export const ProcessEngine = Symbol.for('@psi/core/ProcessEngine');
