import { loadOptionalDependency } from '../shared/optional-dependency';

/**
 * The small part of bpmn-engine / bpmn-elements internals the plugin relies on, typed locally
 * (the published typings are loose and need skipLibCheck). Verified against bpmn-engine@25.0.1 /
 * bpmn-elements@17; the plugin pins that version.
 */

/** The environment of a running process (or sub-process): its variables live here. */
export interface BpmnEnvironment {
  variables: Record<string, unknown>;
  assignVariables(variables: Record<string, unknown>): void;
  getState(): unknown;
  timers?: { executing?: unknown[] };
}

/** An error reference resolved by a boundary error event (`<error errorCode>`). */
export interface BpmnErrorElement {
  resolve(message: unknown): { id?: string; code?: string } | undefined;
}

/** An event definition of an activity, as bpmn-elements keeps it. */
export interface BpmnEventDefinitionElement {
  type: string;
  behaviour?: {
    errorRef?: { id: string };
    messageRef?: { id: string; name?: string };
    signalRef?: { id: string; name?: string };
  };
}

/** The activity behind a postponed api. */
export interface BpmnActivity {
  id: string;
  type: string;
  /** The element's `name` attribute. */
  name?: string;
  isSubProcess?: boolean;
  behaviour?: {
    attachedTo?: { id: string };
    cancelActivity?: boolean;
    eventDefinitions?: BpmnEventDefinitionElement[];
    messageRef?: { id: string; name?: string };
  };
  /** Outgoing sequence flows (an event-based gateway's lead to the events it waits for). */
  outbound?: Array<{ targetId: string }>;
  /** The running execution: a multi-instance activity's iterations are its postponed. */
  execution?: { getPostponed(): BpmnPostponedApi[] };
  broker: { publish(exchange: string, routingKey: string, content: unknown): void };
  environment: BpmnEnvironment;
  getActivityById(id: string): BpmnErrorElement | undefined;
}

/** What `getPostponed()` returns: one api per waiting activity (or event definition). */
export interface BpmnPostponedApi {
  id: string;
  type: string;
  executionId: string;
  content: {
    executionId?: string;
    isRootScope?: boolean;
    isMultiInstance?: boolean;
    index?: number;
    inbound?: Array<{ executionId?: string; id?: string }>;
    [key: string]: unknown;
  };
  owner: BpmnActivity;
  environment: BpmnEnvironment;
  signal(message?: unknown): void;
  sendApiMessage(action: string, content?: unknown): void;
  /** A sub-process's postponed children (itself first). */
  getPostponed(): BpmnPostponedApi[];
}

export interface BpmnProcess {
  id: string;
  environment: BpmnEnvironment;
}

export interface BpmnDefinition {
  id: string;
  environment: BpmnEnvironment & { options: { source: BpmnSourceContext } };
  getRunningProcesses(): BpmnProcess[];
  getProcesses(): BpmnProcess[];
  getExecutableProcesses(): Array<{ id: string }>;
  getState(): unknown;
}

export interface BpmnExecution {
  readonly definitions: BpmnDefinition[];
  readonly environment: BpmnEnvironment;
  readonly state: string;
  readonly stopped: boolean;
  /** `executing`, `timer`, `wait` or `idle`. */
  readonly activityStatus: string;
  getPostponed(): BpmnPostponedApi[];
}

/** A service task's execute message, as handed to a service implementation. */
export interface BpmnExecuteMessage {
  content: { executionId: string; id: string };
}

export type BpmnServiceCallback = (error: Error | null, output?: unknown) => void;

/** The activity as an extension sees it, with the hook to give a service task its implementation. */
export interface BpmnExtensionActivity {
  id: string;
  type: string;
  behaviour: { Service?: unknown; implementation?: string };
}

/** An element of a serialized moddle context (`elements.activities`, `elements.processes`). */
export interface BpmnContextElement {
  id: string;
  type: string;
  name?: string;
  parent?: { id: string; type: string };
  behaviour: Record<string, unknown>;
}

/**
 * The parsed document as bpmn-engine serializes it (moddle-context-serializer): handed to every
 * Engine as `sourceContext`, so a definition is parsed once, not once per instance.
 */
export interface BpmnSourceContext {
  id: string;
  elements: {
    activities: BpmnContextElement[];
    processes: BpmnContextElement[];
    sequenceFlows: Array<BpmnContextElement & { sourceId?: string; targetId?: string }>;
    [kind: string]: unknown;
  };
  getProcesses(): BpmnContextElement[];
  getExecutableProcesses(): BpmnContextElement[];
}

/** The bpmn-engine `Engine` as the plugin uses it. */
export interface BpmnEngineInstance {
  /** `idle`, `running`, `stopped` or `error`; `stop()` never settles unless `running`. */
  readonly state: string;
  readonly execution: BpmnExecution | null;
  readonly environment: BpmnEnvironment;
  execute(options: { listener: unknown; variables?: Record<string, unknown> }): Promise<unknown>;
  resume(options: { listener: unknown }): Promise<unknown>;
  recover(state: unknown): BpmnEngineInstance;
  getDefinitions(): Promise<BpmnDefinition[]>;
  stop(): Promise<void>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  removeAllListeners(): unknown;
}

/** Options of `new Engine(...)` the plugin passes. */
export interface BpmnEngineOptions {
  name?: string;
  source?: string;
  sourceContext?: BpmnSourceContext;
  moddleOptions?: object;
  timers?: object;
  services?: Record<string, unknown>;
  scripts?: object;
  expressions?: object;
  settings?: Record<string, unknown>;
  extensions?: Record<string, (activity: BpmnExtensionActivity) => unknown>;
}

export type BpmnEngineConstructor = new (options?: BpmnEngineOptions) => BpmnEngineInstance;

/**
 * bpmn-engine's `Engine`, loaded when a BpmnEnginePlugin is built (an optional peer dependency).
 * @throws EngineDependencyMissingError when bpmn-engine is not installed.
 */
export function loadBpmnEngine(): BpmnEngineConstructor {
  return loadOptionalDependency<{ Engine: BpmnEngineConstructor }>(
    'bpmn-engine',
    '25.0.1',
    'BpmnEnginePlugin',
  ).Engine;
}
