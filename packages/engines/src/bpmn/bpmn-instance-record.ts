import type { Variables } from '@psi/core';
import { EngineStateError } from '../errors';
import { parseStoredRecord, type StoredInstanceRecord } from '../shared/stored-instance-record';
import type { BpmnWaitPoint } from './bpmn-wait-points';

export type { BpmnWaitPoint } from './bpmn-wait-points';

/**
 * What the plugin persists per instance (as JSON, engine name `bpmn-engine`): PSI's view of the
 * instance (status, variables, wait states) next to bpmn-engine's own state, so that queries
 * need no live Engine and a signal can recover one.
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
  /** Every activity the instance completed, in order (absent in records of earlier versions). */
  history?: string[];
  /**
   * Counts the saves of the record; a live Engine is reused only while it matches (absent in
   * records of earlier versions: 0).
   */
  revision?: number;
  /**
   * bpmn-engine's state without the parsed document (the plugin keeps that per deployment and
   * hands it to the recovered Engine), as a JSON string inside the record: reading the record
   * (every wait-state query) does not parse it, only rebuilding an Engine does. Records of
   * earlier versions hold it as an object. Dropped once the instance ended.
   */
  engineState?: string | object;
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

/** bpmn-engine's state of a running record, parsed (a fresh object each call). */
export function engineStateOf(record: BpmnInstanceRecord): unknown {
  const state = record.engineState;
  return typeof state === 'string'
    ? (JSON.parse(state) as unknown)
    : (JSON.parse(JSON.stringify(state)) as unknown);
}
