import { randomUUID } from 'node:crypto';
import type { EngineEvent, Variables } from '@psi/core';
import { EngineFaultCode } from '../shared/engine-fault-code';
import { EngineStateError } from '../errors';
import { toJsonVariables } from '../shared/json-variables';
import type { InstanceFault, InstanceStatus } from '../shared/instance-snapshot';
import type { InstanceState } from './instance-state';
import type { ProcessDefinition, ServiceStep, TimerStep, WaitStep } from './process-definition';

/** The step the instance rests at, checked against the definition. @throws EngineStateError */
export function restingStep(
  definition: ProcessDefinition,
  state: InstanceState,
): ServiceStep | WaitStep | TimerStep {
  const at = state.at;
  const step = at ? definition.steps[at.step] : undefined;
  if (!at || !step || step.kind !== at.kind) {
    throw new EngineStateError(
      state.instanceId,
      `it rests at ${at ? `${at.kind} step "${at.step}"` : 'no step'}, which definition "${definition.id}" does not have`,
    );
  }
  return step as ServiceStep | WaitStep | TimerStep;
}

/**
 * Moves an instance's state through its definition: enters steps, runs scripts, rests at
 * service, wait and timer steps, routes faults and ends instances. It mutates the state it is
 * given and collects the events to emit; persisting, timers and emitting are the engine's job.
 */
export class InstanceRunner {
  constructor(private readonly clock: () => number) {}

  /** Enters `stepId` and runs on until the instance rests at a step or ends. */
  async enter(
    definition: ProcessDefinition,
    state: InstanceState,
    stepId: string,
    events: EngineEvent[],
  ): Promise<void> {
    const left = state.at;
    if (left?.kind === 'wait') {
      events.push({
        type: 'wait-state-left',
        instanceId: state.instanceId,
        waitState: left.step,
        activationId: left.activationId,
      });
    }
    let id = stepId;
    for (;;) {
      const step = definition.steps[id];
      if (!step)
        throw new EngineStateError(
          state.instanceId,
          `definition "${definition.id}" has no step "${id}"`,
        );
      state.history.push(id);
      delete state.at;
      switch (step.kind) {
        case 'script': {
          const failure = await this.runScript(id, step.run, state);
          if (failure) return this.end(state, 'failed', events, failure);
          id = step.next;
          continue;
        }
        case 'end':
          return this.end(state, 'completed', events);
        case 'service': {
          const activationId = randomUUID();
          state.at = { step: id, kind: 'service', activationId };
          events.push({
            type: 'service-step-entered',
            instanceId: state.instanceId,
            step: id,
            activationId,
          });
          return;
        }
        case 'wait': {
          const activationId = randomUUID();
          state.at = { step: id, kind: 'wait', activationId };
          events.push({
            type: 'wait-state-entered',
            instanceId: state.instanceId,
            waitState: id,
            activationId,
          });
          return;
        }
        case 'timer':
          state.at = {
            step: id,
            kind: 'timer',
            activationId: randomUUID(),
            dueAt: this.clock() + step.durationMs,
          };
          return;
      }
    }
  }

  /**
   * The timer of the timer step entry `activationId` fired: leave via `next`. False (nothing
   * done) when the instance no longer rests at that entry.
   */
  async timerFired(
    definition: ProcessDefinition,
    state: InstanceState,
    activationId: string,
    events: EngineEvent[],
  ): Promise<boolean> {
    if (
      state.status !== 'running' ||
      state.at?.kind !== 'timer' ||
      state.at.activationId !== activationId
    ) {
      return false;
    }
    const step = restingStep(definition, state) as TimerStep;
    await this.enter(definition, state, step.next, events);
    return true;
  }

  /**
   * The SLA due at `slaDueAt` passed: raise `PSI_SLA_EXCEEDED` where the instance rests. False
   * when it ended or its SLA changed meanwhile.
   */
  async slaExpired(
    definition: ProcessDefinition,
    state: InstanceState,
    slaDueAt: number,
    events: EngineEvent[],
  ): Promise<boolean> {
    if (state.status !== 'running' || state.slaDueAt !== slaDueAt) return false;
    delete state.slaDueAt;
    const fault = {
      code: EngineFaultCode.SlaExceeded,
      message: `Instance ${state.instanceId} of "${definition.id}" exceeded its SLA of ${String(state.slaMs ?? definition.slaMs)} ms.`,
    };
    await this.raiseFault(definition, state, fault, events);
    return true;
  }

  /**
   * Raises `fault` where the instance rests: caught by the step's `faults`, then the
   * definition's, it moves there; uncaught, the instance ends `aborted` with the fault recorded.
   */
  async raiseFault(
    definition: ProcessDefinition,
    state: InstanceState,
    fault: InstanceFault,
    events: EngineEvent[],
  ): Promise<void> {
    const step = state.at ? definition.steps[state.at.step] : undefined;
    const stepFaults = step && 'faults' in step ? step.faults : undefined;
    const target = stepFaults?.[fault.code] ?? definition.faults?.[fault.code];
    if (target === undefined) return this.end(state, 'aborted', events, { ...fault });
    await this.enter(definition, state, target, events);
  }

  private end(
    state: InstanceState,
    status: Exclude<InstanceStatus, 'running'>,
    events: EngineEvent[],
    fault?: InstanceFault,
  ): void {
    state.status = status;
    state.endedAt = this.clock();
    delete state.at;
    delete state.slaDueAt;
    if (fault) state.fault = fault;
    events.push({ type: 'instance-ended', instanceId: state.instanceId, outcome: status });
  }

  /** Runs a script and merges its result; returns the fault when it failed. */
  private async runScript(
    step: string,
    run: (variables: Readonly<Variables>) => Variables | void | Promise<Variables | void>,
    state: InstanceState,
  ): Promise<InstanceFault | undefined> {
    try {
      const result = await run(structuredClone(state.variables));
      if (result !== undefined && result !== null)
        Object.assign(state.variables, toJsonVariables(result));
    } catch (error) {
      return {
        code: EngineFaultCode.ScriptFailed,
        message: `Script step "${step}" failed: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
    return undefined;
  }
}
