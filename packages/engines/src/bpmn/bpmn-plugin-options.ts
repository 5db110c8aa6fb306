import type { EngineStateRepository, PsiLoggerOption } from '@psi/core';
import type { EngineTimers } from '../shared/engine-timers';

/** A BPMN 2.0 XML document to deploy, optionally under an id of your choosing. */
export interface BpmnProcessSource {
  /**
   * The id `start` is called with (only for a document with one executable process; one with
   * several is started by each process id). @default the id of the document's executable process
   */
  id?: string;
  /** The BPMN 2.0 XML. */
  source: string;
}

/** A service task, send task or business rule task, as `serviceSteps` is asked about it. */
export interface BpmnServiceTaskInfo {
  /** The deployment (start id) it belongs to. */
  definitionId: string;
  /** The task's id: the step an adapter's `@ServiceAdapter({ step })` names. */
  id: string;
  type: string;
}

/** How a {@link BpmnEnginePlugin} is built. */
export interface BpmnEnginePluginOptions {
  /** BPMN documents deployed at construction (await `ready()` or just call `start`). */
  definitions?: ReadonlyArray<string | BpmnProcessSource>;
  /**
   * Where instance state is kept, as JSON under engine name `bpmn-engine`. Give PSI's store
   * (`store.engineStates()`) to survive restarts. @default a new InMemoryEngineStateRepository
   */
  stateRepository?: EngineStateRepository;
  /**
   * Timers for BPMN timer events, handed to bpmn-engine as they are: a bpmn-elements `Timers`
   * instance, e.g. `new Timers({ setTimeout, clearTimeout })` with test-controlled functions.
   * They run only while an instance has a live Engine (a signal, a wake-up).
   * @default bpmn-engine's own (the global setTimeout)
   */
  timers?: object;
  /**
   * Timer functions that wake a waiting instance when its earliest BPMN timer falls due (it then
   * gets a live Engine again, which fires the expired timer at once). Due times are on `clock`
   * (bpmn-elements computes them from the real time; the plugin translates them to `clock` when
   * one is given, e.g. a test clock). @default the global setTimeout/clearTimeout
   */
  wakeTimers?: EngineTimers;
  /**
   * How many bpmn-engine Engines stay live between an instance's signals, so a service step's
   * signal and the answer after it need no Engine rebuilt from the saved state. A live Engine
   * holds ~0.5 MiB; one unused for `idleMs`, or the least recently used beyond `max`, is dropped
   * (its instance is rebuilt from the store on its next signal). Instances with an armed BPMN
   * timer keep none (PSI's own timer wakes them). `{ max: 0 }` keeps none.
   * @default { max: 256, idleMs: 2_000 }
   */
  liveEngines?: { max?: number; idleMs?: number };
  /**
   * `environment.services` of every instance: functions that conditions, scripts and expressions
   * call (`${environment.services.isVip}`), and implementations of the service tasks PSI does
   * not serve (see `serviceSteps`). Not persisted: give the same after a restart.
   */
  services?: Record<string, unknown>;
  /** A bpmn-elements `Scripts` implementation (script tasks, script conditions). @default bpmn-engine's JavaScripts */
  scripts?: object;
  /** A bpmn-elements `Expressions` implementation. @default bpmn-elements' own */
  expressions?: object;
  /** bpmn-elements `settings` of every instance (e.g. `{ enableDummyService: false }`). */
  settings?: Record<string, unknown>;
  /** bpmn-moddle options used to parse the documents (extension namespaces, e.g. camunda). */
  moddleOptions?: object;
  /**
   * bpmn-engine extensions, run for every activity beside PSI's own (which gives the service
   * steps PSI serves their implementation).
   */
  extensions?: Record<string, (activity: unknown, context: unknown) => unknown>;
  /**
   * Which service, send and business-rule tasks are PSI service steps (run by an adapter bound
   * to the task id). The others run bpmn-engine's own implementation (`implementation=
   * "${environment.services.x}"`, see `services`). @default every one
   */
  serviceSteps?: (task: BpmnServiceTaskInfo) => boolean;
  /**
   * Epoch ms now, for `startedAt` / `endedAt` and the due times of BPMN timer events (with
   * `wakeTimers` on the same clock, a test clock moves BPMN timers too). @default Date.now
   */
  clock?: () => number;
  /** Receives failures of background work (listeners, timers, restore, stalls). @default logs with `logger` */
  onError?: (error: unknown) => void;
  /**
   * Where background failures are logged (at error) when there is no `onError`: a pino logger
   * or any `PsiLogger` (the coordinator's fits). @default the console
   */
  logger?: PsiLoggerOption;
}

/** Options of `BpmnEnginePlugin.start`. */
export interface BpmnStartOptions {
  /** The new instance's id, e.g. a business id. @default crypto.randomUUID() */
  instanceId?: string;
  /**
   * Start through this message or signal start event (its id): it is signalled with `payload`
   * as soon as the instance runs, as a message arriving would.
   */
  startEvent?: string;
  /** The message a `startEvent` is signalled with (its output). @default the variables */
  payload?: unknown;
}
