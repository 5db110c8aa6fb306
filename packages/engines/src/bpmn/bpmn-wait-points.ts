import type { BpmnPostponedApi } from './bpmn-internals';

/** One activity entry the instance can be signalled at (persisted with the instance). */
export interface BpmnWaitPoint {
  /** The BPMN activity id: the wait-state name PEAL uses. */
  id: string;
  /** `service` for service/send/business-rule tasks PSI runs an adapter for, `wait` otherwise. */
  kind: 'service' | 'wait';
  /** bpmn-engine's execution id of this entry. */
  executionId: string;
  /**
   * The entry's PEAL `activationId` when it is not `executionId`: a non-interrupting message
   * boundary event keeps one activation while its activity runs, though bpmn-engine re-arms it
   * under a new execution id after each message.
   */
  activationId?: string;
}

/** A wait point with the live api it was read from. */
export interface LiveWaitPoint extends BpmnWaitPoint {
  api: BpmnPostponedApi;
  /** The activities it runs inside (sub-processes, transactions), innermost first. */
  scopes: readonly string[];
}

/** What an instance's postponed activities say right now. */
export interface PostponedWalk {
  points: LiveWaitPoint[];
  /** Armed error boundary events, with the scopes they sit in. */
  errorBoundaries: BpmnPostponedApi[];
  /** Something runs by itself (a script, a service task PSI does not serve): not a stall. */
  busy: boolean;
}

const SERVICE_TYPES: ReadonlySet<string> = new Set([
  'bpmn:ServiceTask',
  'bpmn:SendTask',
  'bpmn:BusinessRuleTask',
]);
const TASKS_THAT_WAIT: ReadonlySet<string> = new Set([
  'bpmn:ReceiveTask',
  'bpmn:UserTask',
  'bpmn:ManualTask',
  'bpmn:CallActivity',
]);
const CATCH_DEFINITIONS: ReadonlySet<string> = new Set([
  'bpmn:MessageEventDefinition',
  'bpmn:SignalEventDefinition',
]);
const TIMER_DEFINITION = 'bpmn:TimerEventDefinition';
export const EVENT_BASED_GATEWAY = 'bpmn:EventBasedGateway';
const ERROR_DEFINITION = 'bpmn:ErrorEventDefinition';

/** Whether a postponed api is a service step PSI serves (see the plugin's `serviceSteps`). */
export type ServesStep = (activityId: string) => boolean;

/** Whether `type` is an activity type PSI can serve as a service step. */
export function isServiceType(type: string): boolean {
  return SERVICE_TYPES.has(type);
}

/**
 * Reads the wait points out of bpmn-engine's postponed activities: top level, inside
 * sub-processes and transactions (at any depth), and every iteration of a multi-instance
 * activity (each its own entry, with its own execution id).
 */
export function walkPostponed(
  postponed: readonly BpmnPostponedApi[],
  servesStep: ServesStep,
): PostponedWalk {
  const walk: PostponedWalk = { points: [], errorBoundaries: [], busy: false };
  const seen = new Set<string>();
  const visit = (api: BpmnPostponedApi, scopes: readonly string[]): void => {
    const type = api.owner?.type;
    if (api.content?.isMultiInstance) {
      // The activity's own entry stands for all its iterations: each is an entry of its own.
      const iterations = (api.owner.execution?.getPostponed() ?? []).filter(
        (iteration) => !iteration.content?.isRootScope,
      );
      if (!iterations.some((iteration) => iteration.executionId === api.executionId)) {
        for (const iteration of iterations) visit(iteration, scopes);
        return;
      }
    }
    if (api.owner?.isSubProcess) {
      const inner = [api.id, ...scopes];
      for (const child of api.getPostponed()) {
        if (child.executionId !== api.executionId) visit(child, inner);
      }
      return;
    }
    if (type === 'bpmn:BoundaryEvent' && api.type === ERROR_DEFINITION) {
      walk.errorBoundaries.push(api);
      return;
    }
    const kind = pointKind(api, servesStep);
    if (kind === undefined) {
      if (runsByItself(api, servesStep)) walk.busy = true;
      return;
    }
    // An event and its definition can both be postponed: one entry.
    const executionId = String(api.content?.executionId ?? api.executionId);
    if (seen.has(executionId)) return;
    seen.add(executionId);
    const point: LiveWaitPoint = { id: api.id, kind, executionId, api, scopes };
    const activationId = repeatingActivation(api);
    if (activationId !== undefined) point.activationId = activationId;
    walk.points.push(point);
  };
  for (const api of postponed) visit(api, []);
  return walk;
}

/** The PEAL activation id of a point: its own, or the stable one of a repeating boundary. */
export function activationOf(point: Pick<BpmnWaitPoint, 'executionId' | 'activationId'>): string {
  return point.activationId ?? point.executionId;
}

/** The persisted part of a point. */
export function persistedPoint(point: LiveWaitPoint): BpmnWaitPoint {
  const { id, kind, executionId, activationId } = point;
  return activationId === undefined
    ? { id, kind, executionId }
    : { id, kind, executionId, activationId };
}

function pointKind(
  api: BpmnPostponedApi,
  servesStep: ServesStep,
): BpmnWaitPoint['kind'] | undefined {
  const type = api.owner?.type;
  if (SERVICE_TYPES.has(type)) return servesStep(api.id) ? 'service' : undefined;
  if (TASKS_THAT_WAIT.has(type) || type === EVENT_BASED_GATEWAY) return 'wait';
  if (type === 'bpmn:IntermediateCatchEvent') return catchesMessage(api, true) ? 'wait' : undefined;
  if (type === 'bpmn:BoundaryEvent' || type === 'bpmn:StartEvent') {
    return catchesMessage(api, false) ? 'wait' : undefined;
  }
  return undefined;
}

/**
 * Whether the api waits for something from outside: a message or signal definition (also a
 * conditional one on an intermediate catch event, which bpmn-engine evaluates on a signal).
 * A catch event that only waits for time is not: its timer fires by itself.
 */
function catchesMessage(api: BpmnPostponedApi, conditional: boolean): boolean {
  if (CATCH_DEFINITIONS.has(api.type)) return true;
  if (conditional && api.type === 'bpmn:ConditionalEventDefinition') return true;
  if (api.type !== api.owner?.type) return false;
  // The event itself is postponed (not one of its definitions): look at what it defines.
  const definitions = api.owner.behaviour?.eventDefinitions ?? [];
  return (
    definitions.length > 0 &&
    definitions.some((d) => CATCH_DEFINITIONS.has(d.type)) &&
    !definitions.every((d) => d.type === TIMER_DEFINITION)
  );
}

/** Tasks that run code of their own (a script, a service implementation PSI does not serve). */
function runsByItself(api: BpmnPostponedApi, servesStep: ServesStep): boolean {
  const type = api.owner?.type;
  if (type === 'bpmn:ScriptTask') return true;
  return SERVICE_TYPES.has(type) && !servesStep(api.id);
}

/**
 * A non-interrupting message or signal boundary event keeps one activation per entry of its
 * activity: bpmn-engine re-arms it (new execution id) after each message, PSI's expectation
 * for it stays.
 */
function repeatingActivation(api: BpmnPostponedApi): string | undefined {
  if (api.owner?.type !== 'bpmn:BoundaryEvent' || api.owner.behaviour?.cancelActivity !== false) {
    return undefined;
  }
  const attached = api.content?.inbound?.[0]?.executionId;
  return attached === undefined ? undefined : `${attached}#${api.id}`;
}

/**
 * Which entries a signal at `waitState` may leave: the one `activationId` names, or any when it
 * names none. The activation of an event-based gateway's entry also names the catch events
 * behind it (their answers are recorded under the gateway's entry).
 */
export function entryNamed(
  record: { waits: readonly BpmnWaitPoint[] },
  waitState: string,
  activationId: string | undefined,
  targetsOf: (gatewayId: string) => readonly string[],
): (point: BpmnWaitPoint) => boolean {
  const gateway =
    activationId === undefined
      ? undefined
      : record.waits.find(
          (w) => activationOf(w) === activationId && targetsOf(w.id).includes(waitState),
        );
  return (point) =>
    point.id === waitState &&
    (activationId === undefined || activationOf(point) === activationId || gateway !== undefined);
}
