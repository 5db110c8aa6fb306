import type { Variables } from '@psi/core';
import { parseStoredRecord, type StoredInstanceRecord } from '../shared/stored-instance-record';

/** A delayed event (an `after` transition, or `raise(..., { delay })`) the plugin has armed. */
export interface XStateTimer {
  /** XState's send id, e.g. `xstate.after.1000.order.await-ack`; a cancel names it. */
  id: string;
  /** The event sent when it fires, as JSON. */
  event: { type: string; [key: string]: unknown };
  /** Epoch ms. */
  dueAt: number;
}

/** XState's persisted snapshot (`machine.getPersistedSnapshot`), as JSON. */
export interface XStatePersistedSnapshot {
  value: unknown;
  context: Variables;
  status: string;
  [key: string]: unknown;
}

/**
 * What the plugin persists per instance (as JSON, engine name `xstate`): XState's persisted
 * snapshot, the wait states it is in, the activation ids of its service states and the delayed
 * events XState itself would keep only in a live actor's memory.
 */
export interface XStateInstanceRecord extends StoredInstanceRecord {
  snapshot: XStatePersistedSnapshot;
  /** Leaf states the instance can be signalled at, by dotted path. */
  waits: string[];
  /** Service state path → activation id of its current entry. */
  activations: Record<string, string>;
  timers: XStateTimer[];
  /** Every leaf state entered, in order. */
  history: string[];
}

export function parseXStateInstanceRecord(instanceId: string, json: string): XStateInstanceRecord {
  return parseStoredRecord<XStateInstanceRecord>(
    instanceId,
    json,
    'an xstate instance record',
    (record) =>
      Array.isArray(record.waits) &&
      Array.isArray(record.timers) &&
      Array.isArray(record.history) &&
      typeof record.activations === 'object' &&
      record.activations !== null &&
      typeof record.snapshot === 'object' &&
      record.snapshot !== null &&
      typeof record.snapshot.context === 'object' &&
      record.snapshot.context !== null,
  );
}
