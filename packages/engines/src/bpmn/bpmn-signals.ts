import type { SignalOptions, Variables } from '@psi/core';
import { EngineStateError, TransitionUnknownError } from '../errors';
import type { BpmnEnvironment, BpmnPostponedApi } from './bpmn-internals';
import type { LiveInstance } from './bpmn-live-engines';
import { EVENT_BASED_GATEWAY, type LiveWaitPoint, type PostponedWalk } from './bpmn-wait-points';

/** The variable a signal's `transition` is written to before the instance moves on. */
export const PSI_TRANSITION_VARIABLE = 'psiTransition';

/** How a signal was taken: applied, or a fault no error boundary event catches. */
export type SignalResult = 'applied' | 'uncaught-fault';

/** A PSI signal at one wait point of a live instance. */
export interface PointSignal {
  instanceId: string;
  live: LiveInstance;
  walk: PostponedWalk;
  point: LiveWaitPoint;
  /** The environment of the instance's process (its variables). */
  processEnvironment: BpmnEnvironment;
  options: SignalOptions;
  variables: Variables;
}

/**
 * The catch event behind an event-based gateway that `transition` names: by its id, its `name`,
 * or the name of its message. @throws TransitionUnknownError naming the events it waits for.
 */
export function chooseGatewayEvent(
  instanceId: string,
  gateway: LiveWaitPoint,
  walk: PostponedWalk,
  transition: string | undefined,
): LiveWaitPoint {
  const targets = new Set((gateway.api.owner.outbound ?? []).map((flow) => flow.targetId));
  const events = walk.points.filter((p) => targets.has(p.id));
  const namesOf = (event: LiveWaitPoint): string[] => {
    const owner = event.api.owner;
    const names = [event.id];
    if (owner.name) names.push(owner.name);
    if (owner.behaviour?.messageRef?.name) names.push(owner.behaviour.messageRef.name);
    for (const definition of owner.behaviour?.eventDefinitions ?? []) {
      const message =
        definition.behaviour?.messageRef?.name ?? definition.behaviour?.signalRef?.name;
      if (message) names.push(message);
    }
    return names;
  };
  const chosen =
    transition === undefined ? undefined : events.find((e) => namesOf(e).includes(transition));
  if (!chosen) {
    const known = [...new Set(events.flatMap(namesOf))];
    throw new TransitionUnknownError(instanceId, gateway.id, transition, known);
  }
  return chosen;
}

/**
 * Applies a signal to its wait point: variables into the environments the activity and the
 * process see (the activity's differs inside a sub-process), the transition into
 * `psiTransition`, then the fault (thrown at the innermost error boundary event on the
 * activity or on a sub-process around it), the service step's callback, the catch event an
 * event-based gateway's transition names, or the activity's own signal. A non-interrupting
 * message boundary event is re-armed first, so it takes the next answer too.
 * @throws TransitionUnknownError (gateway), EngineStateError (service step without callback)
 */
export function applySignal(signal: PointSignal): SignalResult {
  const { instanceId, live, walk, point, options, variables } = signal;
  let target = point;
  if (point.api.owner.type === EVENT_BASED_GATEWAY && !options.fault) {
    target = chooseGatewayEvent(instanceId, point, walk, options.transition);
  }
  for (const environment of new Set([target.api.environment, signal.processEnvironment])) {
    if (!environment) continue;
    environment.assignVariables({ ...variables });
    if (options.transition === undefined) delete environment.variables[PSI_TRANSITION_VARIABLE];
    else environment.variables[PSI_TRANSITION_VARIABLE] = options.transition;
  }
  if (options.fault) {
    const boundary = faultCatcher(walk, point, options.fault.code);
    if (!boundary) return 'uncaught-fault';
    boundary.sendApiMessage('throw', {
      message: {
        id: errorRefOf(boundary),
        code: options.fault.code,
        message: options.fault.message,
      },
    });
    return 'applied';
  }
  const message = options.payload !== undefined ? options.payload : { ...variables };
  if (target.kind === 'service') {
    const callback = live.services.get(target.executionId);
    if (!callback) {
      throw new EngineStateError(
        instanceId,
        `service task "${target.id}" has no pending execution`,
      );
    }
    live.services.delete(target.executionId);
    callback(null, message);
    return 'applied';
  }
  if (isRepeating(target.api)) {
    // bpmn-engine arms a non-interrupting boundary event once; BPMN lets it catch again.
    target.api.owner.broker.publish('execution', 'execute.repeat', { repeat: -1 });
  }
  target.api.signal(message);
  return 'applied';
}

function isRepeating(api: BpmnPostponedApi): boolean {
  return api.owner.type === 'bpmn:BoundaryEvent' && api.owner.behaviour?.cancelActivity === false;
}

function errorRefOf(api: BpmnPostponedApi): string | undefined {
  const definition = api.owner.behaviour?.eventDefinitions?.find(
    (d) => d.type === 'bpmn:ErrorEventDefinition',
  );
  return definition?.behaviour?.errorRef?.id;
}

/**
 * The error boundary event that catches `code` thrown at `point`: one on the activity itself,
 * else on the innermost sub-process (or transaction) around it that has one, as BPMN
 * propagates an error outwards. A boundary naming no error catches every code.
 */
function faultCatcher(
  walk: PostponedWalk,
  point: LiveWaitPoint,
  code: string,
): BpmnPostponedApi | undefined {
  for (const scope of [point.id, ...point.scopes]) {
    const caught = walk.errorBoundaries.find(
      (api) => api.owner.behaviour?.attachedTo?.id === scope && catchesCode(api, code),
    );
    if (caught) return caught;
  }
  return undefined;
}

function catchesCode(api: BpmnPostponedApi, code: string): boolean {
  const errorRef = errorRefOf(api);
  if (errorRef === undefined) return true;
  const resolved = api.owner.getActivityById(errorRef)?.resolve({ content: {} });
  return resolved?.code === code;
}
