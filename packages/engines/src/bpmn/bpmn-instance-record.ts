import type { Variables } from '@psi/core';
import { EngineStateError } from '../errors';
import { parseStoredRecord, type StoredInstanceRecord } from '../shared/stored-instance-record';

/** One activity the instance can be signalled at. */
export interface BpmnWaitPoint {
  /** The BPMN activity id: the wait-state name PEAL uses. */
  id: string;
  /** `service` for service/send/business-rule tasks (PSI runs an adapter), `wait` otherwise. */
  kind: 'service' | 'wait';
  /** bpmn-engine's execution id of this entry; the `activationId` of service steps. */
  executionId: string;
}

/**
 * What the plugin persists per instance (as JSON, engine name `bpmn-engine`): PSI's view of the
 * instance (status, variables, wait states) next to bpmn-engine's own `getState()`, so that
 * queries need no live Engine and a signal can recover one.
 */
export interface BpmnInstanceRecord extends StoredInstanceRecord {
  variables: Variables;
  waits: BpmnWaitPoint[];
  /** True while a BPMN timer is armed (`timerDueAt` says when the earliest one falls due). */
  timers: boolean;
  /**
   * Epoch ms at which the earliest armed BPMN timer falls due: the plugin wakes the instance
   * (recovers its Engine) then. Absent without armed timers and once the instance ended.
   */
  timerDueAt?: number;
  /** bpmn-engine's `getState()`; dropped once the instance ended. */
  engineState?: unknown;
}

export function parseBpmnInstanceRecord(instanceId: string, json: string): BpmnInstanceRecord {
  const record = parseStoredRecord<BpmnInstanceRecord>(
    instanceId,
    json,
    'a bpmn-engine instance record',
    (fields) =>
      Array.isArray(fields.waits) &&
      typeof fields.variables === 'object' &&
      fields.variables !== null,
  );
  if (record.status === 'running' && record.engineState === undefined) {
    throw new EngineStateError(instanceId, 'a running instance has no bpmn-engine state');
  }
  return record;
}
