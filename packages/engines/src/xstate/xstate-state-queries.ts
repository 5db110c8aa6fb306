import type { AnyMachineSnapshot, EventObject, Snapshot } from 'xstate';
import type { Variables } from '@psi/core';
import { EngineStateError } from '../errors';
import { selfAndAncestors, type CompiledXStateProcess, type XStateLeaf } from './xstate-definition';
import type { XStateInstanceRecord } from './xstate-instance-record';
import type { XStateRuntime } from './xstate-runtime';

/**
 * The machine snapshot of `record` with `context`, built without starting an actor.
 * @throws EngineStateError when the machine cannot restore it
 */
export function restoreSnapshot(
  xstate: XStateRuntime,
  process: CompiledXStateProcess,
  record: XStateInstanceRecord,
  context: Variables,
): AnyMachineSnapshot {
  const persisted = JSON.parse(
    JSON.stringify({ ...record.snapshot, context }),
  ) as Snapshot<unknown>;
  try {
    return xstate
      .createActor(process.machine, { snapshot: persisted })
      .getSnapshot() as AnyMachineSnapshot;
  } catch (error) {
    throw new EngineStateError(
      record.instanceId,
      `machine "${process.id}" cannot restore its snapshot`,
      { cause: error },
    );
  }
}

/** The leaf state at `path`. @throws EngineStateError when the machine has none there */
export function leafAt(
  process: CompiledXStateProcess,
  record: XStateInstanceRecord,
  path: string,
): XStateLeaf {
  const leaf = process.leaves.get(path);
  if (!leaf) {
    throw new EngineStateError(
      record.instanceId,
      `it waits at "${path}", which machine "${process.id}" does not have`,
    );
  }
  return leaf;
}

/**
 * Whether `event` is taken (guards included) by a transition of `leaf` or one of its ancestors.
 * A guard that throws counts as taken: the transition then fails, and the instance with it.
 */
export function takesEvent(
  process: CompiledXStateProcess,
  snapshot: AnyMachineSnapshot,
  leaf: XStateLeaf,
  event: EventObject,
): boolean {
  const chain = new Set(selfAndAncestors(leaf.node));
  try {
    return process.machine.getTransitionData(snapshot, event).some((t) => chain.has(t.source));
  } catch {
    return true;
  }
}

/** The event descriptors the state and its ancestors handle, without XState's internal ones. */
export function knownEvents(leaf: XStateLeaf): string[] {
  const descriptors = selfAndAncestors(leaf.node).flatMap((node) => node.ownEvents as string[]);
  return [...new Set(descriptors.filter((d) => !d.startsWith('xstate.')))];
}
