import type { AwaitedMessage, Variables } from '@psi/core';
import type { BpmnContextElement, BpmnSourceContext } from './bpmn-internals';

/** What a catching element waits for, read from the document. */
export interface BpmnCatch {
  kind: 'message' | 'signal';
  /** The message's or signal's `name` (its id when it has none): the event answers carry. */
  event: string;
  /** A Zeebe `subscription correlationKey` of the message, as a variable path (`order.id`). */
  correlationKey?: string;
}

/** A message or signal start event of an executable process. */
export interface BpmnStartCatch extends BpmnCatch {
  processId: string;
  startEventId: string;
}

const MESSAGE_DEFINITION = 'bpmn:MessageEventDefinition';
const SIGNAL_DEFINITION = 'bpmn:SignalEventDefinition';
const CATCHING_TYPES: ReadonlySet<string> = new Set([
  'bpmn:ReceiveTask',
  'bpmn:IntermediateCatchEvent',
  'bpmn:BoundaryEvent',
  'bpmn:StartEvent',
]);

interface Reference {
  id: string;
  name?: string;
}

/**
 * What the plugin needs to know of a deployed document beyond what bpmn-engine runs: which
 * elements catch which message or signal (so a wait state can declare what it waits for),
 * the targets of event-based gateways, and which message boundary events do not interrupt.
 * Read once per document from its serialized context.
 */
export class BpmnModel {
  private readonly catches = new Map<string, BpmnCatch>();
  private readonly gatewayTargets = new Map<string, string[]>();
  private readonly repeating = new Set<string>();
  /** Catch events behind an event-based gateway: the gateway's entry declares them. */
  private readonly behindGateway = new Set<string>();
  readonly startCatches: readonly BpmnStartCatch[];
  /** Problems that make the document unusable; deploy refuses it with them. */
  readonly problems: readonly string[];

  constructor(context: BpmnSourceContext) {
    const problems: string[] = [];
    const elements = context.elements;
    const messages = new Map<string, { name?: string; correlationKey?: string }>();
    for (const element of elements.activities) {
      if (element.type === 'bpmn:Message') {
        messages.set(element.id, {
          name: element.name ?? (element.behaviour.name as string | undefined),
          correlationKey: zeebeCorrelationKey(element, problems),
        });
      }
    }
    const starts: BpmnStartCatch[] = [];
    for (const element of elements.activities) {
      if (!CATCHING_TYPES.has(element.type)) continue;
      const caught = catchOf(element, messages);
      if (!caught) continue;
      this.catches.set(element.id, caught);
      if (element.type === 'bpmn:BoundaryEvent' && element.behaviour.cancelActivity === false) {
        this.repeating.add(element.id);
      }
      if (element.type === 'bpmn:StartEvent' && element.parent?.type === 'bpmn:Process') {
        starts.push({ ...caught, processId: element.parent.id, startEventId: element.id });
      }
    }
    for (const flow of elements.sequenceFlows) {
      if (!flow.id) {
        problems.push(
          `a sequence flow from "${flow.sourceId ?? '?'}" to "${flow.targetId ?? '?'}" has no id (bpmn-engine cannot run it)`,
        );
      }
      if (flow.sourceId === undefined || flow.targetId === undefined) continue;
      const source = elements.activities.find((a) => a.id === flow.sourceId);
      if (source?.type !== 'bpmn:EventBasedGateway') continue;
      const targets = this.gatewayTargets.get(source.id) ?? [];
      targets.push(flow.targetId);
      this.gatewayTargets.set(source.id, targets);
      this.behindGateway.add(flow.targetId);
    }
    this.startCatches = starts;
    this.problems = problems;
  }

  /** Every message or signal name the document's catching elements wait for. */
  events(): string[] {
    return [...new Set([...this.catches.values()].map((caught) => caught.event))];
  }

  /** What the element catches, when it is a message or signal catch. */
  catchOf(activityId: string): BpmnCatch | undefined {
    return this.catches.get(activityId);
  }

  /** Whether the element is a non-interrupting message or signal boundary event. */
  repeats(activityId: string): boolean {
    return this.repeating.has(activityId);
  }

  /** The elements an event-based gateway waits for. */
  targetsOf(gatewayId: string): readonly string[] {
    return this.gatewayTargets.get(gatewayId) ?? [];
  }

  /**
   * What an entry into `activityId` waits for, with business keys evaluated on `variables`:
   * its own catch, or the catches behind an event-based gateway (which then declare nothing
   * themselves: an empty list). Undefined when the model says nothing (a user task, an anonymous
   * message or signal, also behind a gateway: wait bindings at the element apply then).
   */
  awaitsOf(activityId: string, variables: Variables): AwaitedMessage[] | undefined {
    const targets = this.gatewayTargets.get(activityId);
    if (targets) {
      const awaits = targets.flatMap((target) => {
        const caught = this.catches.get(target);
        return caught ? [{ ...awaited(caught, variables), waitState: target }] : [];
      });
      return awaits.length > 0 ? awaits : undefined;
    }
    const caught = this.catches.get(activityId);
    if (!caught) return undefined;
    // Behind a gateway: the gateway's entry declares it (and its bindings), this one nothing.
    if (this.behindGateway.has(activityId)) return [];
    const message = awaited(caught, variables);
    return [this.repeating.has(activityId) ? { ...message, repeats: true } : message];
  }
}

function awaited(caught: BpmnCatch, variables: Variables): AwaitedMessage {
  if (caught.correlationKey === undefined) return { event: caught.event };
  return {
    event: caught.event,
    businessKey: { [caught.correlationKey]: valueAt(variables, caught.correlationKey) },
  };
}

function valueAt(variables: Variables, path: string): unknown {
  let value: unknown = variables;
  for (const segment of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

function catchOf(
  element: BpmnContextElement,
  messages: ReadonlyMap<string, { name?: string; correlationKey?: string }>,
): BpmnCatch | undefined {
  const behaviour = element.behaviour as {
    messageRef?: Reference;
    eventDefinitions?: Array<{
      type: string;
      behaviour?: { messageRef?: Reference; signalRef?: Reference };
    }>;
  };
  const message = (ref: Reference | undefined): BpmnCatch | undefined => {
    if (!ref) return undefined;
    const known = messages.get(ref.id);
    const event = ref.name ?? known?.name ?? ref.id;
    return known?.correlationKey === undefined
      ? { kind: 'message', event }
      : { kind: 'message', event, correlationKey: known.correlationKey };
  };
  if (element.type === 'bpmn:ReceiveTask') return message(behaviour.messageRef);
  for (const definition of behaviour.eventDefinitions ?? []) {
    if (definition.type === MESSAGE_DEFINITION) return message(definition.behaviour?.messageRef);
    if (definition.type === SIGNAL_DEFINITION) {
      const ref = definition.behaviour?.signalRef;
      if (ref) return { kind: 'signal', event: ref.name ?? ref.id };
    }
  }
  return undefined;
}

/**
 * The `correlationKey` of a Zeebe `<zeebe:subscription>` on a message, as a variable path:
 * PSI evaluates paths (`=orderId`, `=order.id`), not other FEEL expressions.
 */
function zeebeCorrelationKey(element: BpmnContextElement, problems: string[]): string | undefined {
  const extensions = element.behaviour.extensionElements as
    { values?: Array<Record<string, unknown>> } | undefined;
  const subscription = extensions?.values?.find((v) => v.$type === 'zeebe:subscription');
  const expression = subscription?.correlationKey;
  if (typeof expression !== 'string') return undefined;
  const path = expression.trim().replace(/^=\s*/, '');
  if (!/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(path)) {
    problems.push(
      `message "${element.id}": correlationKey "${expression}" is not a variable path (PSI evaluates "=name" or "=a.b")`,
    );
    return undefined;
  }
  return path;
}
