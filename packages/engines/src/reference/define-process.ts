import { ProcessDefinitionError } from '../errors';
import type { ProcessDefinition, StepDefinition, StepTargets } from './process-definition';

const KINDS: ReadonlySet<string> = new Set(['script', 'service', 'wait', 'timer', 'end']);

/**
 * Validates a process definition and returns it frozen. Call it once per process, at module
 * load, so a typo in a step id fails at startup rather than when an instance gets there.
 *
 * @throws ProcessDefinitionError naming every bad reference (start, `next`, transition and
 * fault targets), steps without a way out and cycles made only of script steps.
 */
export function defineProcess(definition: ProcessDefinition): ProcessDefinition {
  const problems = validateProcessDefinition(definition);
  if (problems.length > 0) {
    throw new ProcessDefinitionError(String(definition?.id ?? '(no id)'), problems);
  }
  return deepFreeze(definition);
}

/** The problems of a definition, empty when it is valid; `defineProcess` throws them. */
export function validateProcessDefinition(definition: ProcessDefinition): string[] {
  const problems: string[] = [];
  if (typeof definition !== 'object' || definition === null) return ['definition is not an object'];
  if (typeof definition.id !== 'string' || definition.id === '')
    problems.push('"id" must be a non-empty string');
  const steps = definition.steps;
  if (typeof steps !== 'object' || steps === null || Object.keys(steps).length === 0) {
    return [...problems, '"steps" must have at least one step'];
  }
  const exists = (id: string): boolean => Object.prototype.hasOwnProperty.call(steps, id);
  const checkTarget = (where: string, target: unknown): void => {
    if (typeof target !== 'string' || !exists(target)) {
      problems.push(`${where} targets unknown step "${String(target)}"`);
    }
  };
  const checkTargets = (where: string, targets: StepTargets | undefined): void => {
    for (const [name, target] of Object.entries(targets ?? {}))
      checkTarget(`${where} "${name}"`, target);
  };

  if (typeof definition.start !== 'string' || !exists(definition.start)) {
    problems.push(`"start" names unknown step "${String(definition.start)}"`);
  }
  if (
    definition.slaMs !== undefined &&
    !(Number.isFinite(definition.slaMs) && definition.slaMs > 0)
  ) {
    problems.push(`"slaMs" must be a positive number, got ${String(definition.slaMs)}`);
  }
  checkTargets('process fault', definition.faults);

  for (const [id, step] of Object.entries(steps) as [string, StepDefinition][]) {
    const at = `step "${id}"`;
    if (typeof step !== 'object' || step === null || !KINDS.has(step.kind)) {
      problems.push(
        `${at} has unknown kind "${String((step as { kind?: unknown } | null)?.kind)}"`,
      );
      continue;
    }
    switch (step.kind) {
      case 'script':
        if (typeof step.run !== 'function') problems.push(`${at} needs a "run" function`);
        checkTarget(`${at} next`, step.next);
        break;
      case 'timer':
        if (!(Number.isFinite(step.durationMs) && step.durationMs >= 0)) {
          problems.push(`${at} needs "durationMs" >= 0, got ${String(step.durationMs)}`);
        }
        checkTarget(`${at} next`, step.next);
        checkTargets(`${at} fault`, step.faults);
        break;
      case 'service':
      case 'wait':
        if (step.next !== undefined) checkTarget(`${at} next`, step.next);
        checkTargets(`${at} transition`, step.transitions);
        checkTargets(`${at} fault`, step.faults);
        if (step.next === undefined && Object.keys(step.transitions ?? {}).length === 0) {
          problems.push(`${at} has no way out: give it "next" or "transitions"`);
        }
        break;
      case 'end':
        break;
    }
  }
  if (problems.length === 0) problems.push(...scriptCycles(steps));
  return problems;
}

/** Script steps always move on at once, so a cycle of them never rests: report it. */
function scriptCycles(steps: Readonly<Record<string, StepDefinition>>): string[] {
  const problems: string[] = [];
  const cleared = new Set<string>();
  for (const first of Object.keys(steps)) {
    const path: string[] = [];
    let id = first;
    let step = steps[id];
    while (step?.kind === 'script' && !cleared.has(id)) {
      if (path.includes(id)) {
        const cycle = path.slice(path.indexOf(id));
        problems.push(
          `script steps ${[...cycle, id].map((s) => `"${s}"`).join(' -> ')} loop without ever resting`,
        );
        break;
      }
      path.push(id);
      id = step.next;
      step = steps[id];
    }
    for (const p of path) cleared.add(p);
  }
  return problems;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
