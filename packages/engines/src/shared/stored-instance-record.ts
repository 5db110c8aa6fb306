import type { Variables } from '@psi/core';
import { EngineStateError } from '../errors';
import type { InstanceFault, InstanceSnapshot, InstanceStatus } from './instance-snapshot';

/** The fields the bpmn-engine and XState plugins' persisted instance records both start with. */
export interface StoredInstanceRecord {
  version: 1;
  instanceId: string;
  definitionId: string;
  status: InstanceStatus;
  /** The ids of the latest signals the instance took (see `SignalOptions.signalId`). */
  signalIds?: string[];
  fault?: InstanceFault;
  startedAt: number;
  endedAt?: number;
}

/**
 * Reads a record from the JSON kept in the repository: an object of version 1 with a string
 * `definitionId` and `status`, whose plugin-specific fields `hasOwnFields` accepts.
 * @throws EngineStateError "it is not JSON", or "it is not `description` of version 1".
 */
export function parseStoredRecord<R extends StoredInstanceRecord>(
  instanceId: string,
  json: string,
  description: string,
  hasOwnFields: (record: Partial<R>) => boolean,
): R {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new EngineStateError(instanceId, 'it is not JSON', { cause: error });
  }
  const record = value as Partial<R> | null;
  if (
    !record ||
    record.version !== 1 ||
    typeof record.definitionId !== 'string' ||
    typeof record.status !== 'string' ||
    !hasOwnFields(record)
  ) {
    throw new EngineStateError(instanceId, `it is not ${description} of version 1`);
  }
  return record as R;
}

/**
 * The public view of a record: `variables` deep-copied (as JSON), the first wait state as
 * `currentStep`, the fault copied.
 */
export function storedRecordSnapshot(
  record: StoredInstanceRecord,
  view: { waitStates: string[]; variables: Variables; history: string[] },
): InstanceSnapshot {
  const { waitStates } = view;
  const snapshot: InstanceSnapshot = {
    instanceId: record.instanceId,
    definitionId: record.definitionId,
    status: record.status,
    waitStates,
    variables: JSON.parse(JSON.stringify(view.variables)) as Variables,
    history: view.history,
  };
  if (waitStates[0] !== undefined) snapshot.currentStep = waitStates[0];
  if (record.fault) snapshot.fault = { ...record.fault };
  return snapshot;
}
