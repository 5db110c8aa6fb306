import { randomUUID } from 'node:crypto';
import type { EngineEvent } from '@psi/core';
import type { AnyMachineSnapshot, EventObject, ExecutableActionObject, StateValue } from 'xstate';
import { EngineFaultCode } from '../shared/engine-fault-code';
import type { InstanceFault, InstanceStatus } from '../shared/instance-snapshot';
import { ENTERED_ACTION, leafPathsOf, type CompiledXStateProcess } from './xstate-definition';
import type {
  XStateInstanceRecord,
  XStatePersistedSnapshot,
  XStateTimer,
} from './xstate-instance-record';

/** Actions that would create or talk to other actors: a persisted PSI instance has none. */
const ACTOR_ACTIONS: ReadonlySet<string> = new Set([
  'xstate.spawnChild',
  'xstate.sendTo',
  'xstate.stopChild',
]);

/** A transition's result, as XState's pure `transition` / `initialTransition` return it. */
export type Macrostep = () => [AnyMachineSnapshot, readonly ExecutableActionObject[]];

class ActorUnsupported extends Error {}

/** Types XState's `[snapshot, actions]` tuple. */
export function asMacrostep(
  result: [unknown, readonly unknown[]],
): [AnyMachineSnapshot, readonly ExecutableActionObject[]] {
  return result as [AnyMachineSnapshot, readonly ExecutableActionObject[]];
}

/**
 * Folds XState macrosteps into the plugin's instance record: the states entered (each entry
 * of a wait or service state gets its own activation id), delayed events armed or cancelled,
 * custom actions run, the new snapshot, the end; and the PEAL events that change raises.
 */
export class MacrostepFolder {
  constructor(private readonly clock: () => number) {}

  /** Computes `macrostep` and folds it into `record`; appends the events to emit. */
  apply(
    process: CompiledXStateProcess,
    record: XStateInstanceRecord,
    macrostep: Macrostep,
    events: EngineEvent[],
  ): void {
    let next: AnyMachineSnapshot;
    const entered: string[] = [];
    try {
      let actions: readonly ExecutableActionObject[];
      [next, actions] = macrostep();
      for (const action of actions) this.perform(record, action, entered);
      if (Object.keys(next.children as object).length > 0) {
        throw new ActorUnsupported('the machine spawned a child actor');
      }
    } catch (error) {
      const unsupported = error instanceof ActorUnsupported;
      this.end(
        record,
        'failed',
        {
          code: unsupported ? EngineFaultCode.ActorUnsupported : EngineFaultCode.MachineFailed,
          message: unsupported
            ? `${error.message}; a PSI instance is a persisted snapshot and keeps no actors: use a "psi.service" state instead`
            : `The machine failed: ${error instanceof Error ? error.message : String(error)}`,
        },
        events,
      );
      return;
    }
    record.snapshot = persistedSnapshotOf(process, next);
    if (next.status === 'done') {
      this.end(record, 'completed', undefined, events);
      return;
    }
    if (next.status === 'error') {
      const error: unknown = next.error;
      const message = error instanceof Error ? error.message : String(error);
      this.end(record, 'failed', { code: EngineFaultCode.MachineFailed, message }, events);
      return;
    }
    const before = { ...record.activations };
    record.waits = leafPathsOf(next.value as StateValue).filter((path) => {
      const kind = process.leaves.get(path)?.kind;
      return kind === 'service' || kind === 'wait';
    });
    const activations: Record<string, string> = {};
    const fresh = new Set(entered);
    for (const state of record.waits) {
      const current = record.activations[state];
      activations[state] = fresh.has(state) || current === undefined ? randomUUID() : current;
    }
    record.activations = activations;
    for (const [state, activationId] of Object.entries(before)) {
      if (process.leaves.get(state)?.kind !== 'wait' || activations[state] === activationId) {
        continue;
      }
      events.push({
        type: 'wait-state-left',
        instanceId: record.instanceId,
        waitState: state,
        activationId,
      });
    }
    // Entered, in entry order (the last entry counts), and still there at the end of the step.
    const order = [...new Set([...entered].reverse())].reverse();
    for (const state of order) {
      if (record.waits.includes(state)) events.push(enteredEvent(process, record, state));
    }
  }

  /** Ends the instance with `status`; appends `instance-ended`. */
  end(
    record: XStateInstanceRecord,
    status: Exclude<InstanceStatus, 'running'>,
    fault: InstanceFault | undefined,
    events: EngineEvent[],
  ): void {
    record.status = status;
    if (fault) record.fault = fault;
    record.waits = [];
    record.activations = {};
    record.timers = [];
    record.endedAt = this.clock();
    events.push({ type: 'instance-ended', instanceId: record.instanceId, outcome: status });
  }

  /** Carries out one action a macrostep returned. */
  private perform(
    record: XStateInstanceRecord,
    action: ExecutableActionObject,
    entered: string[],
  ): void {
    if (action.type === ENTERED_ACTION) {
      const { state } = action.params as { state: string };
      entered.push(state);
      record.history.push(state);
    } else if (action.type === 'xstate.raise') {
      const params = action.params as { event: EventObject; id?: string; delay?: number };
      if (params.delay === undefined) return;
      const id = params.id ?? randomUUID();
      const event = JSON.parse(JSON.stringify(params.event)) as XStateTimer['event'];
      record.timers = record.timers.filter((t) => t.id !== id);
      record.timers.push({ id, event, dueAt: this.clock() + params.delay });
    } else if (action.type === 'xstate.cancel') {
      const { sendId } = action.params as { sendId: string };
      record.timers = record.timers.filter((t) => t.id !== sendId);
    } else if (ACTOR_ACTIONS.has(action.type)) {
      throw new ActorUnsupported(`the machine ran "${action.type}"`);
    } else if (!action.type.startsWith('xstate.') && action.exec) {
      action.exec(action.info, action.params);
    }
  }
}

/** The `service-step-entered` or `wait-state-entered` event of the instance's entry into `state`. */
export function enteredEvent(
  process: CompiledXStateProcess,
  record: XStateInstanceRecord,
  state: string,
): EngineEvent {
  const activationId = record.activations[state];
  if (process.leaves.get(state)?.kind === 'service' && activationId !== undefined) {
    return {
      type: 'service-step-entered',
      instanceId: record.instanceId,
      step: state,
      activationId,
    };
  }
  return activationId === undefined
    ? { type: 'wait-state-entered', instanceId: record.instanceId, waitState: state }
    : { type: 'wait-state-entered', instanceId: record.instanceId, waitState: state, activationId };
}

function persistedSnapshotOf(
  process: CompiledXStateProcess,
  snapshot: AnyMachineSnapshot,
): XStatePersistedSnapshot {
  return JSON.parse(
    JSON.stringify(process.machine.getPersistedSnapshot(snapshot)),
  ) as XStatePersistedSnapshot;
}
