import { PsiError } from '@psi/core';
import { defineProcess, validateProcessDefinition } from './define-process';
import { EngineErrorCode, ProcessDefinitionError } from '../errors';
import type { ProcessDefinition } from './process-definition';
import { ReferenceEngine } from './reference-engine';

const valid: ProcessDefinition = {
  id: 'procurement',
  start: 'create-order',
  slaMs: 60000,
  faults: { PSI_SLA_EXCEEDED: 'escalate' },
  steps: {
    'create-order': { kind: 'script', run: () => ({ orderId: 'PO-1' }), next: 'send-to-supplier' },
    'send-to-supplier': {
      kind: 'service',
      next: 'print-and-archive',
      transitions: { rejected: 'cancel' },
      faults: { SUPPLIER_DOWN: 'escalate' },
    },
    'print-and-archive': { kind: 'wait', transitions: { printed: 'pause' } },
    pause: { kind: 'timer', durationMs: 5, next: 'done' },
    escalate: { kind: 'wait', next: 'done' },
    cancel: { kind: 'end' },
    done: { kind: 'end' },
  },
};

function problemsOf(definition: ProcessDefinition): readonly string[] {
  try {
    defineProcess(definition);
  } catch (error) {
    expect(error).toBeInstanceOf(ProcessDefinitionError);
    return (error as ProcessDefinitionError).problems;
  }
  throw new Error('defineProcess accepted an invalid definition');
}

describe('defineProcess', () => {
  it('returns a valid definition, frozen', () => {
    const definition = defineProcess({ ...valid, steps: { ...valid.steps } });
    expect(definition.start).toBe('create-order');
    expect(Object.isFrozen(definition)).toBe(true);
    expect(Object.isFrozen(definition.steps['send-to-supplier'])).toBe(true);
  });

  describe('having a bad reference', () => {
    it('names a start step that does not exist', () => {
      expect(problemsOf({ ...valid, start: 'nope' })).toEqual([
        '"start" names unknown step "nope"',
      ]);
    });

    it('names a next target that does not exist', () => {
      const steps = {
        ...valid.steps,
        pause: { kind: 'timer' as const, durationMs: 5, next: 'gone' },
      };
      expect(problemsOf({ ...valid, steps })).toEqual([
        'step "pause" next targets unknown step "gone"',
      ]);
    });

    it('names a transition target that does not exist', () => {
      const steps = {
        ...valid.steps,
        'print-and-archive': { kind: 'wait' as const, transitions: { printed: 'x' } },
      };
      expect(problemsOf({ ...valid, steps })).toEqual([
        'step "print-and-archive" transition "printed" targets unknown step "x"',
      ]);
    });

    it('names step and process fault targets that do not exist', () => {
      const steps = {
        ...valid.steps,
        'send-to-supplier': { kind: 'service' as const, next: 'done', faults: { E1: 'nowhere' } },
      };
      expect(problemsOf({ ...valid, faults: { PSI_SLA_EXCEEDED: 'void' }, steps })).toEqual([
        'process fault "PSI_SLA_EXCEEDED" targets unknown step "void"',
        'step "send-to-supplier" fault "E1" targets unknown step "nowhere"',
      ]);
    });
  });

  it('refuses a service or wait step without a way out', () => {
    const steps = { ...valid.steps, escalate: { kind: 'wait' as const } };
    expect(problemsOf({ ...valid, steps })).toEqual([
      'step "escalate" has no way out: give it "next" or "transitions"',
    ]);
  });

  it('refuses a cycle made only of script steps', () => {
    const problems = problemsOf({
      id: 'spin',
      start: 'a',
      steps: {
        a: { kind: 'script', run: () => undefined, next: 'b' },
        b: { kind: 'script', run: () => undefined, next: 'a' },
      },
    });
    expect(problems).toEqual(['script steps "a" -> "b" -> "a" loop without ever resting']);
  });

  it('accepts a cycle that rests at a timer', () => {
    expect(
      validateProcessDefinition({
        id: 'loop',
        start: 'a',
        steps: {
          a: { kind: 'script', run: () => undefined, next: 't' },
          t: { kind: 'timer', durationMs: 1, next: 'a' },
        },
      }),
    ).toEqual([]);
  });

  it('refuses bad numbers, kinds and missing run functions', () => {
    const problems = problemsOf({
      id: 'bad',
      start: 'a',
      slaMs: -1,
      steps: {
        a: { kind: 'timer', durationMs: Number.NaN, next: 'b' },
        b: { kind: 'script', next: 'c' } as unknown as ProcessDefinition['steps'][string],
        c: { kind: 'teleport' } as unknown as ProcessDefinition['steps'][string],
      },
    });
    expect(problems).toEqual([
      '"slaMs" must be a positive number, got -1',
      'step "a" needs "durationMs" >= 0, got NaN',
      'step "b" needs a "run" function',
      'step "c" has unknown kind "teleport"',
    ]);
  });

  it('refuses a definition without steps or id', () => {
    expect(problemsOf({ id: '', start: 'a', steps: {} })).toEqual([
      '"id" must be a non-empty string',
      '"steps" must have at least one step',
    ]);
  });

  it('throws a PsiError with a stable code naming the definition', () => {
    let thrown: unknown;
    try {
      defineProcess({ ...valid, start: 'nope' });
    } catch (error) {
      thrown = error;
    }
    expect(PsiError.is(thrown)).toBe(true);
    expect(thrown).toMatchObject({
      code: EngineErrorCode.DefinitionInvalid,
      definitionId: 'procurement',
    });
    expect((thrown as Error).message).toContain('"nope"');
  });
});

describe('ReferenceEngine definitions', () => {
  it('validates definitions it was given without defineProcess', () => {
    expect(() => new ReferenceEngine({ definitions: [{ ...valid, start: 'nope' }] })).toThrow(
      ProcessDefinitionError,
    );
  });

  it('refuses two definitions with one id', () => {
    expect(() => new ReferenceEngine({ definitions: [valid, valid] })).toThrow(/same id/);
  });
});
