import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { FidelityAnswer, FidelityScenario } from './fidelity-scenario';

/** What a run of a scenario ended with, on either side. */
export interface FidelityResult {
  outcome: 'completed' | 'failed' | 'aborted' | 'running';
  /** The activities completed, sorted (parallel branches may interleave differently). */
  path: string[];
  variables: Record<string, unknown>;
  /** Where it still waits (sorted activity ids). */
  waits: string[];
}

/** The variables bpmn-elements keeps in a process environment that are not process variables. */
export const RESERVED = new Set(['fields', 'content', 'properties', 'psiTransition']);

const SERVICE_TYPES = new Set(['bpmn:ServiceTask', 'bpmn:SendTask', 'bpmn:BusinessRuleTask']);

interface Api {
  id: string;
  type: string;
  executionId: string;
  content: { executionId?: string; isRootScope?: boolean; isMultiInstance?: boolean };
  owner: {
    type: string;
    isSubProcess?: boolean;
    execution?: { getPostponed(): Api[] };
    behaviour?: { eventDefinitions?: Array<{ type: string }> };
  };
  environment: { variables: Record<string, unknown>; assignVariables(v: object): void };
  signal(message: unknown): void;
  fail(error: unknown): void;
  getPostponed(): Api[];
}

interface RawEngine {
  execute(options: object): Promise<{ getPostponed(): Api[]; definitions: RawDefinition[] }>;
  on(event: string, listener: (...args: unknown[]) => void): void;
  stop(): Promise<void>;
  state: string;
}
interface RawDefinition {
  getProcesses(): Array<{ environment: { variables: Record<string, unknown> } }>;
}

/**
 * Runs a scenario on bpmn-engine alone, in memory, with no restart: what the model does with
 * these answers. Answers are given the way the bpmn-engine documentation shows: a wait state's
 * api is signalled with the answer as its message, a service task's implementation calls back
 * with it, a fault fails the activity with a BpmnError; the answer's variables are assigned to
 * the environment the activity runs in and to the process's (PSI's semantics for a signal).
 */
export async function runBare(scenario: FidelityScenario): Promise<FidelityResult> {
  const load = createRequire(__filename);
  const { Engine } = load('bpmn-engine') as { Engine: new (options: object) => RawEngine };
  const { BpmnError } = load('bpmn-elements') as {
    BpmnError: new (message: string, behaviour: object) => Error;
  };
  const path: string[] = [];
  const listener = new EventEmitter();
  listener.on('activity.end', (api: { id?: string }) => {
    if (api?.id) path.push(api.id);
  });
  const callbacks = new Map<string, (error: Error | null, output?: unknown) => void>();
  const engine = new Engine({
    name: scenario.name,
    source: scenario.source,
    services: scenario.services,
    extensions: {
      psi(activity: { id: string; type: string; behaviour: { Service?: unknown } }) {
        if (!SERVICE_TYPES.has(activity.type)) return;
        if (scenario.engineServiceTasks?.includes(activity.id)) return;
        activity.behaviour.Service = function FidelityService() {
          return {
            execute(message: { content: { executionId: string } }, callback: () => void) {
              callbacks.set(message.content.executionId, callback);
            },
            discard(message: { content: { executionId: string } }) {
              callbacks.delete(message?.content?.executionId);
            },
          };
        };
      },
    },
  });
  let outcome: FidelityResult['outcome'] = 'running';
  engine.on('end', () => (outcome = 'completed'));
  engine.on('error', () => (outcome = 'failed'));
  const execution = await engine.execute({ listener, variables: { ...scenario.variables } });
  const processEnv = () =>
    execution.definitions[0].getProcesses()[0].environment as Api['environment'];

  const services = scenario.answers.filter(
    (a) => a.by === 'service' || isServiceFault(scenario, a),
  );
  const others = scenario.answers.filter((a) => !services.includes(a));
  const answerServices = async (): Promise<void> => {
    for (let moved = true; moved && outcome === 'running';) {
      moved = false;
      for (const point of points(execution.getPostponed())) {
        if (!SERVICE_TYPES.has(point.owner.type)) continue;
        const index = services.findIndex((a) => a.at === point.id);
        const callback = callbacks.get(String(point.content.executionId ?? point.executionId));
        if (index < 0 || !callback) continue;
        const [answer] = services.splice(index, 1);
        callbacks.delete(String(point.content.executionId ?? point.executionId));
        if (answer.by === 'fault') {
          callback(new BpmnError(answer.faultCode ?? 'FAULT', { errorCode: answer.faultCode }));
        } else {
          assign(point, processEnv(), answer);
          callback(null, { ...answer.variables });
        }
        await settle();
        moved = true;
        break;
      }
    }
  };
  for (const answer of others) {
    const point = await until(`bare ${scenario.name} waits at ${answer.at}`, async () => {
      await answerServices();
      if (outcome !== 'running') return null;
      return points(execution.getPostponed()).find((p) => p.id === answer.at);
    });
    if (!point) break;
    if (answer.by === 'fault') {
      point.fail(new BpmnError(answer.faultCode ?? 'FAULT', { errorCode: answer.faultCode }));
    } else {
      assign(point, processEnv(), answer);
      point.signal({ ...answer.variables });
    }
    await settle();
  }
  await answerServices();
  if (scenario.outcome !== 'running') {
    await until(`bare ${scenario.name} ends`, async () => {
      await answerServices();
      return outcome === 'running' ? undefined : true;
    });
  }
  const variables: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(processEnv().variables)) {
    if (!RESERVED.has(key)) variables[key] = value;
  }
  const waits = outcome === 'running' ? points(execution.getPostponed()).map((p) => p.id) : [];
  if (engine.state === 'running') await engine.stop();
  return {
    outcome,
    path: [...path].sort(),
    variables: JSON.parse(JSON.stringify(variables)) as Record<string, unknown>,
    waits: [...new Set(waits)].sort(),
  };
}

function isServiceFault(scenario: FidelityScenario, answer: FidelityAnswer): boolean {
  if (answer.by !== 'fault') return false;
  // A fault answers a service task when the model's element with that id is one.
  const tag = new RegExp(
    `<(?:\\w+:)?(serviceTask|sendTask|businessRuleTask)\\b[^>]*\\bid="${answer.at}"`,
  );
  return tag.test(scenario.source);
}

function assign(point: Api, processEnv: Api['environment'], answer: FidelityAnswer): void {
  for (const environment of new Set([point.environment, processEnv])) {
    environment.assignVariables({ ...answer.variables });
    if (answer.transition === undefined) delete environment.variables.psiTransition;
    else environment.variables.psiTransition = answer.transition;
  }
}

/** The activities waiting, inside sub-processes and multi-instance iterations too. */
function points(postponed: Api[]): Api[] {
  const found: Api[] = [];
  const seen = new Set<string>();
  const visit = (api: Api): void => {
    if (api.content?.isMultiInstance) {
      const iterations = (api.owner.execution?.getPostponed() ?? []).filter(
        (it) => !it.content?.isRootScope,
      );
      if (!iterations.some((it) => it.executionId === api.executionId)) {
        for (const it of iterations) visit(it);
        return;
      }
    }
    if (api.owner?.isSubProcess) {
      for (const child of api.getPostponed())
        if (child.executionId !== api.executionId) visit(child);
      return;
    }
    const key = String(api.content?.executionId ?? api.executionId);
    if (seen.has(key)) return;
    seen.add(key);
    found.push(api);
  };
  for (const api of postponed) visit(api);
  return found;
}

/** Lets bpmn-engine finish what a signal set off (it continues on later turns of the loop). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

async function until<T>(
  what: string,
  check: () => Promise<T | undefined | null>,
  patienceMs = 15_000,
): Promise<T | null> {
  const deadline = Date.now() + patienceMs;
  for (;;) {
    const value = await check();
    if (value === null) return null;
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Waited ${patienceMs} ms in vain until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
