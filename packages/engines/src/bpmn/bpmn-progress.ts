import type { EngineEvent, Variables } from '@psi/core';
import { InstanceStalledError } from '../errors';
import { toJsonVariables } from '../shared/json-variables';
import type { BpmnDeployment } from './bpmn-deployments';
import type { BpmnEnvironment, BpmnExecution } from './bpmn-internals';
import type { BpmnInstanceRecord } from './bpmn-instance-record';
import type { LiveInstance } from './bpmn-live-engines';
import { PSI_TRANSITION_VARIABLE } from './bpmn-signals';
import { earliestTimerDue, shiftTimers } from './bpmn-timers';
import {
  activationOf,
  persistedPoint,
  walkPostponed,
  type BpmnWaitPoint,
  type ServesStep,
} from './bpmn-wait-points';

/**
 * Keys bpmn-elements writes into a process's variables by itself (the run message); they are
 * not process variables and are left out of `getVariables`, as is `psiTransition`.
 */
const RESERVED_VARIABLES: ReadonlySet<string> = new Set([
  'fields',
  'content',
  'properties',
  PSI_TRANSITION_VARIABLE,
]);

/** What reading a live instance into its record found. */
export interface Progress {
  /** The events to emit once the record is saved. */
  events: EngineEvent[];
  /** bpmn-engine's state to save (absent once the instance ended). */
  engineState?: unknown;
  /** The instance cannot move: reported, and the instance ends `failed`. */
  stalled?: InstanceStalledError;
}

/**
 * Reads a live instance into its record (status, variables, wait points, timers) and says
 * which events that change raises (see {@link changeEvents}).
 */
export function readProgress(
  record: BpmnInstanceRecord,
  live: LiveInstance,
  deployment: BpmnDeployment,
  servesStep: ServesStep,
  before: readonly BpmnWaitPoint[],
  now: number,
  /** How far the real time is ahead of the plugin's clock: timers are kept on the clock. */
  clockOffsetMs = 0,
): Progress {
  const events: EngineEvent[] = [];
  record.variables = readVariables(live, record.variables);
  if (live.completed.length > 0) {
    record.history = [...(record.history ?? []), ...live.completed.splice(0)];
  }
  const ended = (status: 'completed' | 'failed', fault?: { code: string; message: string }) => {
    record.status = status;
    if (fault) record.fault = fault;
    record.waits = [];
    record.timers = false;
    delete record.timerDueAt;
    record.endedAt = now;
    delete record.engineState;
    events.push({ type: 'instance-ended', instanceId: record.instanceId, outcome: status });
  };
  if (live.outcome) {
    const { outcome } = live;
    if (outcome.status === 'completed') ended('completed');
    else ended('failed', { code: 'PSI_BPMN_ENGINE_ERROR', message: messageOf(outcome.error) });
    return { events };
  }
  const execution = live.execution!;
  const postponed = execution.getPostponed();
  const walk = walkPostponed(postponed, servesStep);
  live.busy = walk.busy;
  const engineState = shiftTimers(captureState(live.instanceId, execution), -clockOffsetMs);
  const timerDueAt = earliestTimerDue(engineState);
  if (
    walk.points.length === 0 &&
    timerDueAt === undefined &&
    !walk.busy &&
    execution.activityStatus !== 'executing'
  ) {
    const stalled = new InstanceStalledError(record.instanceId, [
      ...new Set(postponed.map((api) => `${api.id} (${api.owner?.type ?? api.type})`)),
    ]);
    ended('failed', { code: stalled.code, message: stalled.message });
    return { events, stalled };
  }
  record.waits = walk.points.map(persistedPoint);
  record.timers = timerDueAt !== undefined;
  if (timerDueAt === undefined) delete record.timerDueAt;
  else record.timerDueAt = timerDueAt;
  events.push(...changeEvents(record, deployment, before));
  return { events, engineState };
}

/**
 * The events of a running instance's change since `before` (its wait points then):
 * `service-step-entered` / `wait-state-entered` for entries not in `before`, with what the model
 * says they wait for, and `wait-state-left` for wait entries no longer there. With `before`
 * empty, every entry it waits at now (a restore).
 */
export function changeEvents(
  record: BpmnInstanceRecord,
  deployment: BpmnDeployment,
  before: readonly BpmnWaitPoint[],
): EngineEvent[] {
  const events: EngineEvent[] = [];
  const known = new Set(before.map(activationOf));
  const current = new Set(record.waits.map(activationOf));
  // Left entries first: what PSI recorded for them is closed before a new entry records its own.
  for (const point of before) {
    if (point.kind !== 'wait' || current.has(activationOf(point))) continue;
    events.push({
      type: 'wait-state-left',
      instanceId: record.instanceId,
      waitState: point.id,
      activationId: activationOf(point),
    });
  }
  for (const point of record.waits) {
    const activationId = activationOf(point);
    if (known.has(activationId)) continue;
    known.add(activationId);
    if (point.kind === 'service') {
      events.push({
        type: 'service-step-entered',
        instanceId: record.instanceId,
        step: point.id,
        activationId,
      });
      continue;
    }
    const awaits = deployment.model.awaitsOf(point.id, record.variables);
    events.push({
      type: 'wait-state-entered',
      instanceId: record.instanceId,
      waitState: point.id,
      activationId,
      ...(awaits ? { awaits } : {}),
    });
  }
  return events;
}

/** The environment of the instance's process: where its variables live. */
export function processEnvironment(live: LiveInstance): BpmnEnvironment {
  const definition = live.execution?.definitions[0];
  if (!definition) throw new Error('bpmn-engine execution has no definition');
  const running = definition.getRunningProcesses()[0];
  if (running) return running.environment;
  return definition.getProcesses()[0]?.environment ?? definition.environment;
}

function readVariables(live: LiveInstance, fallback: Variables): Variables {
  let environment: BpmnEnvironment;
  try {
    environment = processEnvironment(live);
  } catch {
    return fallback;
  }
  const variables: Variables = {};
  for (const [key, value] of Object.entries(environment.variables ?? {})) {
    if (!RESERVED_VARIABLES.has(key)) variables[key] = value;
  }
  return toJsonVariables(variables);
}

/**
 * bpmn-engine's `getState()` without the parsed document it repeats in every definition's
 * state (`source`, ~2/3 of it): the deployment hands the document to the recovered Engine.
 */
function captureState(name: string, execution: BpmnExecution): unknown {
  return {
    name,
    state: execution.state,
    stopped: execution.stopped,
    environment: execution.environment.getState(),
    definitions: execution.definitions.map((definition) => definition.getState()),
  };
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'object' && error !== null && 'message' in error) {
    return String((error as { message: unknown }).message);
  }
  return String(error);
}
