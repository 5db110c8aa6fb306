import { loadOptionalDependency } from '../shared/optional-dependency';

/**
 * The small part of bpmn-engine / bpmn-elements internals the plugin relies on, typed locally
 * (the published typings are loose and need skipLibCheck). Verified against bpmn-engine@25.0.1 /
 * bpmn-elements@17; the plugin pins that major.
 */

/** The environment of a running process: its variables live here, not on the execution. */
export interface BpmnEnvironment {
  variables: Record<string, unknown>;
  assignVariables(variables: Record<string, unknown>): void;
}

/** An error reference resolved by a boundary error event (`<error errorCode>`). */
export interface BpmnErrorElement {
  resolve(message: unknown): { id?: string; code?: string } | undefined;
}

/** The activity behind a postponed api. */
export interface BpmnActivity {
  id: string;
  type: string;
  /** The element's `name` attribute. */
  name?: string;
  behaviour?: {
    attachedTo?: { id: string };
    eventDefinitions?: Array<{
      type: string;
      behaviour?: { errorRef?: { id: string }; messageRef?: { id: string; name?: string } };
    }>;
  };
  /** Outgoing sequence flows (an event-based gateway's lead to the events it waits for). */
  outbound?: Array<{ targetId: string }>;
  getActivityById(id: string): BpmnErrorElement | undefined;
}

/** What `execution.getPostponed()` returns: one api per waiting activity (or event definition). */
export interface BpmnPostponedApi {
  id: string;
  type: string;
  executionId: string;
  content: Record<string, unknown>;
  owner: BpmnActivity;
  environment: BpmnEnvironment;
  signal(message?: unknown): void;
  sendApiMessage(action: string, content?: unknown): void;
}

export interface BpmnProcess {
  environment: BpmnEnvironment;
}

export interface BpmnDefinition {
  environment: BpmnEnvironment;
  getRunningProcesses(): BpmnProcess[];
  getExecutableProcesses(): Array<{ id: string }>;
}

export interface BpmnExecution {
  readonly definitions: BpmnDefinition[];
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
  behaviour: { Service?: unknown };
}

/** The bpmn-engine `Engine` as the plugin uses it. */
export interface BpmnEngineInstance {
  /** `idle`, `running`, `stopped` or `error`; `stop()` never settles unless `running`. */
  readonly state: string;
  execute(options: { listener: unknown; variables?: Record<string, unknown> }): Promise<unknown>;
  resume(options: { listener: unknown }): Promise<unknown>;
  recover(state: unknown): BpmnEngineInstance;
  getState(): Promise<unknown>;
  getDefinitions(): Promise<unknown>;
  stop(): Promise<void>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  removeAllListeners(): unknown;
}

/** Options of `new Engine(...)` the plugin passes. */
export interface BpmnEngineOptions {
  name?: string;
  source?: string;
  timers?: object;
  extensions?: Record<string, (activity: BpmnExtensionActivity) => void>;
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
