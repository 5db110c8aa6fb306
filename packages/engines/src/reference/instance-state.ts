import type { Variables } from '@psi/core';
import { EngineStateError } from '../errors';
import type { InstanceFault, InstanceSnapshot, InstanceStatus } from '../shared/instance-snapshot';
import type { RestingStepKind } from './process-definition';

/** Where a running instance rests: one entry into a service, wait or timer step. */
export interface RestingPoint {
  step: string;
  kind: RestingStepKind;
  /** Unique per entry into the step; re-emitted unchanged after a restore. */
  activationId: string;
  /** Epoch ms at which a timer step fires. */
  dueAt?: number;
}

/**
 * The persisted state of one instance: everything the engine needs to continue it in another
 * process, and nothing that cannot be written as JSON.
 */
export interface InstanceState {
  version: 1;
  instanceId: string;
  definitionId: string;
  status: InstanceStatus;
  /** Absent once the instance ended. */
  at?: RestingPoint;
  /** Epoch ms of the SLA deadline; absent without SLA, once it fired, or once the instance ended. */
  slaDueAt?: number;
  /** The SLA the instance was started with (its own or the definition's), for the fault message. */
  slaMs?: number;
  variables: Variables;
  history: string[];
  /** The ids of the latest signals the instance took (see `SignalOptions.signalId`). */
  signalIds?: string[];
  fault?: InstanceFault;
  startedAt: number;
  endedAt?: number;
}

const STATUSES: ReadonlySet<string> = new Set(['running', 'completed', 'aborted', 'failed']);
const RESTING: ReadonlySet<string> = new Set(['service', 'wait', 'timer']);

/** Writes a state as the JSON kept in the repository. */
export function serializeInstanceState(state: InstanceState): string {
  return JSON.stringify(state);
}

/** Reads the JSON kept in the repository; throws EngineStateError when it is not a state. */
export function parseInstanceState(instanceId: string, json: string): InstanceState {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new EngineStateError(instanceId, 'it is not JSON', { cause: error });
  }
  const state = value as Partial<InstanceState> | null;
  const problem =
    typeof state !== 'object' || state === null
      ? 'it is not an object'
      : state.version !== 1
        ? `unknown version ${String(state.version)}`
        : typeof state.definitionId !== 'string'
          ? 'no definitionId'
          : !STATUSES.has(String(state.status))
            ? `unknown status ${String(state.status)}`
            : typeof state.variables !== 'object' || state.variables === null
              ? 'no variables'
              : !Array.isArray(state.history)
                ? 'no history'
                : state.status === 'running' && !(state.at && RESTING.has(state.at.kind))
                  ? 'running without a resting step'
                  : undefined;
  if (problem) throw new EngineStateError(instanceId, problem);
  return state as InstanceState;
}

/** The public view of a state. */
export function toSnapshot(state: InstanceState): InstanceSnapshot {
  const snapshot: InstanceSnapshot = {
    instanceId: state.instanceId,
    definitionId: state.definitionId,
    status: state.status,
    waitStates: waitStatesOf(state),
    variables: structuredClone(state.variables),
    history: [...state.history],
  };
  if (state.status === 'running' && state.at) snapshot.currentStep = state.at.step;
  if (state.fault) snapshot.fault = { ...state.fault };
  return snapshot;
}

/** The steps a signal may name now: the service or wait step the instance rests at. */
export function waitStatesOf(state: InstanceState): string[] {
  return state.status === 'running' && state.at && state.at.kind !== 'timer' ? [state.at.step] : [];
}
