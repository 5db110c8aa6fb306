import type { AnyStateMachine, AnyStateNode, StateMachine, StateValue } from 'xstate';
import { loadXState } from './xstate-runtime';
import { ProcessDefinitionError } from '../errors';

/** The tag that makes a state a **service step**: entering it calls the adapter bound to it. */
export const PSI_SERVICE_TAG = 'psi.service';

/**
 * Prefix of the event a fault is sent as: fault `PSI_TIMEOUT` arrives as event
 * `fault.PSI_TIMEOUT` (with `code` and `message`); `fault.*` catches every fault.
 */
export const PSI_FAULT_EVENT_PREFIX = 'fault.';

/** The action type the plugin adds to the entry of every leaf state, to see which were entered. */
export const ENTERED_ACTION = 'psi.entered';

/** A machine to deploy, optionally under an id of your choosing. */
export interface XStateProcessDefinition {
  /** The id `start` is called with. @default the machine's `id` */
  id?: string;
  machine: AnyStateMachine;
}

/** What the plugin knows of one leaf state. */
export interface XStateLeaf {
  /** Dotted key path from the root, e.g. `await-confirmation` or `review.await-approval`. */
  path: string;
  node: AnyStateNode;
  /** `service` (tagged {@link PSI_SERVICE_TAG}), `wait` (any other leaf) or `final`. */
  kind: 'service' | 'wait' | 'final';
}

/** A deployed machine: the user's machine with PSI's entry markers and its leaf states. */
export interface CompiledXStateProcess {
  readonly id: string;
  readonly machine: AnyStateMachine;
  readonly leaves: ReadonlyMap<string, XStateLeaf>;
}

/** A state node's config as far as the compiler reads and rewrites it. */
interface StateConfig {
  type?: string;
  states?: Record<string, StateConfig>;
  entry?: unknown;
  context?: unknown;
  [key: string]: unknown;
}

type ContextFactory = (args: { input: unknown }) => Record<string, unknown>;

/**
 * Compiles a machine for the plugin: start variables are merged over its initial `context`, and
 * every leaf state gets an entry action {@link ENTERED_ACTION} (no implementation; it only shows
 * up in the actions a transition returns, so the plugin sees every entry, re-entries included).
 *
 * @throws ProcessDefinitionError for machines the plugin cannot run: invoked actors, a service tag
 * on a state that is not a leaf, key paths that collide.
 */
export function compileXStateProcess(
  definition: AnyStateMachine | XStateProcessDefinition,
): CompiledXStateProcess {
  const source = isStateMachine(definition) ? definition : definition.machine;
  if (!isStateMachine(source)) {
    throw new ProcessDefinitionError(String((definition as { id?: unknown }).id), [
      'not an XState machine (build it with createMachine or setup(...).createMachine)',
    ]);
  }
  const id = (isStateMachine(definition) ? undefined : definition.id) ?? source.id;
  const problems = checkMachine(source);
  if (problems.length > 0) throw new ProcessDefinitionError(id, problems);

  const config = { ...(source.config as StateConfig) };
  const original = config.context;
  const initialContext: ContextFactory = (args) => ({
    ...(typeof original === 'function'
      ? ((original as ContextFactory)(args) ?? {})
      : ((original as Record<string, unknown> | undefined) ?? {})),
    ...((args.input as Record<string, unknown> | undefined) ?? {}),
  });
  const compiledConfig = { ...markLeaves(config, []), context: initialContext };
  const machine = new (loadXState().StateMachine)(
    compiledConfig as unknown as ConstructorParameters<typeof StateMachine>[0],
    source.implementations,
  ) as AnyStateMachine;
  return { id, machine, leaves: leavesOf(machine) };
}

/** The leaf paths of a state value: `{ a: { b: 'c' } }` → `['a.b.c']`; parallel regions give several. */
export function leafPathsOf(value: StateValue, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value];
  return Object.entries(value).flatMap(([key, child]) =>
    child === undefined || (typeof child === 'object' && Object.keys(child).length === 0)
      ? [prefix + key]
      : leafPathsOf(child, `${prefix}${key}.`),
  );
}

/** The state node and its ancestors up to the root (the machine itself), innermost first. */
export function selfAndAncestors(node: AnyStateNode): AnyStateNode[] {
  const chain: AnyStateNode[] = [];
  for (let current: AnyStateNode | undefined = node; current; current = current.parent) {
    chain.push(current);
  }
  return chain;
}

/** Whether an event descriptor (`done`, `fault.*`, `*`) matches an event type. */
export function descriptorMatches(descriptor: string, type: string): boolean {
  if (descriptor === type || descriptor === '*') return true;
  return descriptor.endsWith('.*') && type.startsWith(descriptor.slice(0, -1));
}

function isStateMachine(value: unknown): value is AnyStateMachine {
  return value instanceof loadXState().StateMachine;
}

function checkMachine(machine: AnyStateMachine): string[] {
  const problems: string[] = [];
  const paths = new Map<string, string>();
  const visit = (node: AnyStateNode): void => {
    const path = node.path.join('.');
    if (node.invoke.length > 0) {
      problems.push(
        `state "${path || '(root)'}" invokes an actor; PSI runs services through adapters: tag the state "${PSI_SERVICE_TAG}" instead`,
      );
    }
    const children = Object.values(node.states) as AnyStateNode[];
    if (node.tags.includes(PSI_SERVICE_TAG) && children.length > 0) {
      problems.push(`state "${path}" is tagged "${PSI_SERVICE_TAG}" but is not a leaf state`);
    }
    if (node.parent) {
      const other = paths.get(path);
      if (other !== undefined)
        problems.push(`states "${other}" and "${node.id}" share the path "${path}"`);
      paths.set(path, node.id);
    }
    for (const child of children) visit(child);
  };
  visit(machine.root);
  return problems;
}

function markLeaves(config: StateConfig, path: readonly string[]): StateConfig {
  const states = config.states ?? {};
  if (Object.keys(states).length > 0) {
    return {
      ...config,
      states: Object.fromEntries(
        Object.entries(states).map(([key, child]) => [key, markLeaves(child, [...path, key])]),
      ),
    };
  }
  if (config.type === 'history' || path.length === 0) return config;
  const entry =
    config.entry === undefined ? [] : Array.isArray(config.entry) ? config.entry : [config.entry];
  const marker = { type: ENTERED_ACTION, params: { state: path.join('.') } };
  return { ...config, entry: [marker, ...(entry as unknown[])] };
}

function leavesOf(machine: AnyStateMachine): Map<string, XStateLeaf> {
  const leaves = new Map<string, XStateLeaf>();
  const visit = (node: AnyStateNode): void => {
    if (node.type === 'atomic' || node.type === 'final') {
      const path = node.path.join('.');
      const kind =
        node.type === 'final' ? 'final' : node.tags.includes(PSI_SERVICE_TAG) ? 'service' : 'wait';
      leaves.set(path, { path, node, kind });
    }
    for (const child of Object.values(node.states) as AnyStateNode[]) visit(child);
  };
  visit(machine.root);
  return leaves;
}
