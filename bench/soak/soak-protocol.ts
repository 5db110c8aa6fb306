/**
 * What the soak supervisor (soak-supervisor.ts) and its node processes (soak-node.ts) say to
 * each other over IPC, and the mix of scenarios they run.
 */

/** The kinds of instance the soak mixes, each its own process definition and adapter. */
export const SCENARIOS = ['ck', 'bk', 'early', 'group', 'race', 'loop'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** How the sender answers each scenario's requests. */
export const SCENARIO_NOTES: Record<Scenario, string> = {
  ck: 'answered by correlation key once requested',
  bk: 'answered by business key (no correlation key)',
  early: 'answered at once while the instance sits 300 ms at an engine timer: parked, released',
  group: 'one of many: both "accepted" and "rejected" are sent, in random order',
  race: 'answered 1.0-2.0 s after the request, racing a 1.5 s timeout',
  loop: 'three visits of the same service step and wait state, one answer each',
};

/** The timeout the race scenario's answers race. */
export const RACE_TIMEOUT_MS = 1_500;
/** The deadline every other expectation has: long enough never to pass in a soak. */
export const LONG_TIMEOUT_MS = 600_000;
/** Visits of the loop scenario. */
export const LOOP_VISITS = 3;

/** Where a node's store and side-effect table live. */
export interface SoakStoreParams {
  kind: 'sqlite' | 'postgres';
  /** SQLite: PSI's file, and a separate file for the handlers' side effects. */
  sqlitePath?: string;
  effectsPath?: string;
  /** PostgreSQL: the database and schema (the side-effect table is in the same schema). */
  url?: string;
  schema?: string;
}

export interface SoakNodeParams {
  store: SoakStoreParams;
  /** Passed to the coordinator when set; else its default (SQLite: 'local'; PostgreSQL: per process). */
  nodeId?: string;
  leaseMs: number;
}

/** Supervisor → node. */
export type SupervisorCommand =
  | { cmd: 'start'; instances: Array<{ id: string; scenario: Scenario }> }
  | {
      cmd: 'answer';
      messageId: string;
      event: string;
      correlationKey?: string;
      payload: Record<string, unknown>;
    }
  | { cmd: 'stop' };

/** Node → supervisor. */
export type NodeReport =
  | { type: 'ready'; nodeId: string }
  | { type: 'started'; id: string }
  | {
      type: 'sent';
      instanceId: string;
      scenario: Scenario;
      visit: number;
      correlationKey: string;
      requestId: string;
    }
  | { type: 'received'; messageId: string; outcome: { status: string; reason?: string } }
  /** The first delivery this process recorded (a recovered one or a new one). */
  | { type: 'first-delivery' }
  /** The coordinator's recovery at start finished (its info line). */
  | { type: 'recovered'; message: string; detail: unknown }
  | { type: 'problem'; level: string; message: string; detail?: string }
  | { type: 'stopped' };

/** The side effect every handler writes, keyed by its delivery id (runs counts the re-runs). */
export const EFFECT_TABLE = 'soak_effect';
export const EFFECT_TABLE_SQL = `CREATE TABLE IF NOT EXISTS ${EFFECT_TABLE} (
  "deliveryId" varchar PRIMARY KEY, "instanceId" varchar NOT NULL, visit integer NOT NULL,
  event varchar NOT NULL, runs integer NOT NULL)`;
