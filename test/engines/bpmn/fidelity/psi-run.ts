import { createRequire } from 'node:module';
import {
  BusinessError,
  OnResponse,
  Output,
  ServiceAdapter,
  UseService,
  WaitBinding,
} from '@psi/core';
import type { InProcessService } from '@psi/adapters';
import type { StoreLocation } from '../../../foundation/test-stores';
import { BpmnWorld, eventually } from '../bpmn-world';
import type { FidelityResult } from './bare-run';
import type { FidelityAnswer, FidelityScenario } from './fidelity-scenario';

/** The one service every generated adapter calls: its reply is the scenario's answer. */
abstract class FidelityService {
  abstract reply(request: { step: string }): Promise<FidelityReply>;
}

interface FidelityReply {
  variables?: Record<string, unknown>;
  transition?: string;
  faultCode?: string;
}

type Constructor = new (...args: never[]) => object;

/**
 * An adapter for one service task, as a user would write it: it calls the service and writes
 * the reply's fields to variables; a reply that is a fault becomes a BusinessError (a BPMN error
 * at the task).
 */
function adapterFor(step: string, variables: readonly string[]): Constructor {
  class Generated {
    service!: FidelityService;
    async callService(): Promise<string | undefined> {
      const reply = await this.service.reply({ step });
      if (reply.faultCode) throw new BusinessError(reply.faultCode, `${step} failed`);
      Object.assign(this, reply.variables);
      return reply.transition;
    }
  }
  Object.defineProperty(Generated, 'name', { value: `Adapter_${safe(step)}` });
  UseService(FidelityService)(Generated.prototype, 'service');
  for (const variable of variables) Output(variable)(Generated.prototype, variable);
  ServiceAdapter({ step, service: 'fidelity' })(Generated);
  return Generated;
}

/**
 * A wait binding for one message wait state, as a user would write it where the model says too
 * little: the answer's fields become variables, its `transition` is taken. The event is the
 * model's message name, or (for an anonymous message) one the binding names itself.
 */
function bindingFor(
  waitState: string,
  event: string,
  variables: readonly string[],
  transition: string | undefined,
): Constructor {
  class Generated {
    answered(payload: Record<string, unknown>): string | undefined {
      Object.assign(this, payload);
      return transition;
    }
  }
  Object.defineProperty(Generated, 'name', { value: `Binding_${safe(waitState)}_${safe(event)}` });
  for (const variable of variables) Output(variable)(Generated.prototype, variable);
  const descriptor = Object.getOwnPropertyDescriptor(Generated.prototype, 'answered')!;
  OnResponse(event, { waitState })(Generated.prototype, 'answered', descriptor);
  WaitBinding()(Generated);
  return Generated;
}

function safe(id: string): string {
  return id.replace(/[^A-Za-z0-9_]/g, '_');
}

/** The event a message answer carries: as given, else the model's name, else the binding's. */
export function eventOf(answer: FidelityAnswer, modelNames: ReadonlyMap<string, string>): string {
  return answer.event ?? modelNames.get(answer.at) ?? `answer:${answer.at}`;
}

/**
 * Runs a scenario through PSI on a real store: a generated adapter per service task (its service
 * replies with the scripted answers, in order), a generated wait binding per message wait state,
 * messages through the coordinator addressed by the instance id, human answers as direct
 * signals; and after every answer, once the instance waits again, a restart of the whole node
 * (coordinator, plugin, store) on the same store.
 */
export async function runThroughPsi(
  scenario: FidelityScenario,
  location: StoreLocation,
  modelNames: ReadonlyMap<string, string>,
): Promise<FidelityResult & { errors: unknown[]; restarts: number }> {
  const replies = new Map<string, FidelityReply[]>();
  const adapters: Constructor[] = [];
  const bindings: Constructor[] = [];
  const variablesOf = (answers: FidelityAnswer[]) => [
    ...new Set(answers.flatMap((a) => Object.keys(a.variables ?? {}))),
  ];
  const byStep = groupBy(
    scenario.answers.filter(
      (a) => a.by === 'service' || (a.by === 'fault' && isService(scenario, a)),
    ),
  );
  for (const [step, answers] of byStep) {
    replies.set(
      step,
      answers.map((a) => ({
        variables: a.variables,
        transition: a.transition,
        faultCode: a.faultCode,
      })),
    );
    adapters.push(adapterFor(step, variablesOf(answers)));
  }
  const byWait = groupBy(scenario.answers.filter((a) => a.by === 'message'));
  for (const [waitState, answers] of byWait) {
    for (const event of new Set(answers.map((a) => eventOf(a, modelNames)))) {
      const same = answers.filter((a) => eventOf(a, modelNames) === event);
      bindings.push(bindingFor(waitState, event, variablesOf(same), same[0].transition));
    }
  }
  const service: InProcessService = {
    reply: (payload) => {
      const { step } = payload as { step: string };
      const next = replies.get(step)?.shift();
      if (!next) throw new Error(`no scripted reply left for service task ${step}`);
      return next;
    },
  };
  let world = await BpmnWorld.open(location, {
    definitions: [scenario.source],
    adapters,
    waitBindings: bindings,
    services: { fidelity: service },
    plugin: {
      ...(scenario.services ? { services: scenario.services } : {}),
      serviceSteps: (task) => !scenario.engineServiceTasks?.includes(task.id),
    },
  });
  const errors: unknown[] = [];
  let restarts = 0;
  const restart = async () => {
    await world.coordinator.idle();
    errors.push(...world.errors);
    world = await world.restart();
    restarts++;
  };
  try {
    let manual = scenario.answers.filter((a) => atWaitState(scenario, a));
    let instanceId: string;
    if (scenario.startedByMessage) {
      // A message from outside, addressed to nobody: PSI starts the process it starts.
      const [first, ...rest] = manual;
      await restart();
      const outcome = await world.receive({
        event: eventOf(first, modelNames),
        payload: { ...first.variables },
      });
      if (outcome.status !== 'started') {
        throw new Error(`start message ${first.at} was ${JSON.stringify(outcome)}`);
      }
      instanceId = outcome.instanceId;
      manual = rest;
    } else {
      instanceId = await world.plugin.start(scenario.processId, { ...scenario.variables });
    }
    for (const answer of manual) {
      await eventually(`PSI ${scenario.name} waits at ${answer.at}`, async () => {
        const states = await world.plugin.getWaitStates(instanceId);
        return states.includes(answer.at) ? true : undefined;
      });
      await restart();
      if (answer.by === 'message') {
        await eventually(`"${answer.at}" records what it awaits`, async () => {
          const trail = await world.coordinator.auditTrail(instanceId);
          return trail.some((e) => e.kind === 'awaiting' && awaits(e.detail, answer.at))
            ? true
            : undefined;
        });
        const outcome = await world.receive({
          event: eventOf(answer, modelNames),
          correlationKey: instanceId,
          payload: { ...answer.variables },
        });
        if (outcome.status !== 'delivered') {
          throw new Error(`message at ${answer.at} was ${JSON.stringify(outcome)}`);
        }
      } else if (answer.by === 'fault') {
        await world.plugin.signal(instanceId, answer.at, {
          fault: { code: answer.faultCode ?? 'FAULT', message: `${answer.at} failed` },
        });
      } else {
        await world.plugin.signal(instanceId, answer.at, {
          variables: answer.variables,
          transition: answer.transition,
        });
      }
    }
    if (scenario.outcome !== 'running') await world.ended(instanceId);
    await world.coordinator.idle();
    const snapshot = await world.plugin.getInstance(instanceId);
    errors.push(...world.errors);
    return {
      outcome: snapshot.status,
      path: [...snapshot.history].sort(),
      variables: snapshot.variables,
      waits: [...new Set(snapshot.waitStates)].sort(),
      errors,
      restarts,
    };
  } finally {
    await world.close();
  }
}

function awaits(detail: Record<string, unknown> | undefined, waitState: string): boolean {
  const expecting = (detail?.expecting ?? []) as Array<{ waitState?: string }>;
  return expecting.some((e) => e.waitState === waitState);
}

/** Whether an answer is given at a wait state (not by a service task's adapter). */
export function atWaitState(scenario: FidelityScenario, answer: FidelityAnswer): boolean {
  return answer.by !== 'service' && !(answer.by === 'fault' && isService(scenario, answer));
}

function isService(scenario: FidelityScenario, answer: FidelityAnswer): boolean {
  const tag = new RegExp(
    `<(?:\\w+:)?(serviceTask|sendTask|businessRuleTask)\\b[^>]*\\bid="${answer.at}"`,
  );
  return tag.test(scenario.source);
}

function groupBy(answers: FidelityAnswer[]): Map<string, FidelityAnswer[]> {
  const groups = new Map<string, FidelityAnswer[]>();
  for (const answer of answers) groups.set(answer.at, [...(groups.get(answer.at) ?? []), answer]);
  return groups;
}

/**
 * The message or signal name each catching element waits for, read from the document as
 * bpmn-engine parses it (what a sender puts in `event`).
 */
export async function modelEventNames(source: string): Promise<Map<string, string>> {
  const { Engine } = createRequire(__filename)('bpmn-engine') as {
    Engine: new (options: object) => {
      getDefinitions(): Promise<
        Array<{ environment: { options: { source: { elements: { activities: Element[] } } } } }>
      >;
    };
  };
  type Reference = { id: string; name?: string };
  type Element = {
    id: string;
    type: string;
    behaviour: {
      messageRef?: Reference;
      eventDefinitions?: Array<{ behaviour?: { messageRef?: Reference; signalRef?: Reference } }>;
    };
  };
  const [definition] = await new Engine({ source }).getDefinitions();
  const names = new Map<string, string>();
  for (const element of definition.environment.options.source.elements.activities) {
    const ref =
      element.behaviour.messageRef ??
      element.behaviour.eventDefinitions
        ?.map((d) => d.behaviour?.messageRef ?? d.behaviour?.signalRef)
        .find((r) => r !== undefined);
    if (ref) names.set(element.id, ref.name ?? ref.id);
  }
  return names;
}
