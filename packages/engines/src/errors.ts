import { PsiError } from '@psi/core';

/** Stable error codes of @psi/engines. Codes never change meaning; new ones are added. */
export const EngineErrorCode = {
  DefinitionInvalid: 'PSI_ENGINE_DEFINITION_INVALID',
  DefinitionUnknown: 'PSI_ENGINE_DEFINITION_UNKNOWN',
  TransitionUnknown: 'PSI_ENGINE_TRANSITION_UNKNOWN',
  TransitionRefused: 'PSI_ENGINE_TRANSITION_REFUSED',
  InstanceExists: 'PSI_ENGINE_INSTANCE_EXISTS',
  StateInvalid: 'PSI_ENGINE_STATE_INVALID',
  EngineStopped: 'PSI_ENGINE_STOPPED',
  VariablesInvalid: 'PSI_ENGINE_VARIABLES_INVALID',
  StartOptionsInvalid: 'PSI_ENGINE_START_OPTIONS_INVALID',
  DependencyMissing: 'PSI_ENGINE_DEPENDENCY_MISSING',
  InstanceStalled: 'PSI_ENGINE_INSTANCE_STALLED',
  MessageStartUnknown: 'PSI_ENGINE_MESSAGE_START_UNKNOWN',
} as const;
export type EngineErrorCode = (typeof EngineErrorCode)[keyof typeof EngineErrorCode];

/**
 * Thrown by `defineProcess` (and the engine constructor) when a process definition is not
 * valid: a missing start step, a `next`, transition or fault target naming no step, a step
 * without a way out, a cycle made only of script steps. Lists every problem found.
 */
export class ProcessDefinitionError extends PsiError {
  constructor(
    readonly definitionId: string,
    readonly problems: readonly string[],
  ) {
    super(
      EngineErrorCode.DefinitionInvalid,
      `Process definition "${definitionId}" is not valid: ${problems.join('; ')}`,
    );
  }
  protected override details(): unknown {
    return { definitionId: this.definitionId, problems: this.problems };
  }
}

/**
 * Thrown when a process is started with, or a persisted instance refers to, a definition id the
 * engine was not given. Pass the definition in the engine's `definitions` option.
 */
export class ProcessDefinitionUnknownError extends PsiError {
  constructor(
    readonly definitionId: string,
    readonly known: readonly string[],
  ) {
    super(
      EngineErrorCode.DefinitionUnknown,
      `Process definition "${definitionId}" is not known to this engine (known: ${known.join(', ') || 'none'}); add it to the engine's "definitions".`,
    );
  }
  protected override details(): unknown {
    return { definitionId: this.definitionId, known: this.known };
  }
}

/**
 * Thrown by `signal` when the named transition does not leave the wait state, or when no
 * transition is named and the wait state has no default `next`. The instance does not move.
 */
export class TransitionUnknownError extends PsiError {
  constructor(
    readonly instanceId: string,
    readonly waitState: string,
    readonly transition: string | undefined,
    readonly known: readonly string[],
  ) {
    super(
      EngineErrorCode.TransitionUnknown,
      transition === undefined
        ? `Wait state "${waitState}" of instance ${instanceId} has no default transition; name one of: ${known.join(', ') || 'none'}.`
        : `Wait state "${waitState}" of instance ${instanceId} has no transition "${transition}" (it has: ${known.join(', ') || 'none'}).`,
    );
  }
  protected override details(): unknown {
    return {
      instanceId: this.instanceId,
      waitState: this.waitState,
      transition: this.transition,
      known: this.known,
    };
  }
}

/**
 * Thrown by `signal` when the wait state has the transition but its guard refuses it now (an
 * XState guard on the event). The instance does not move; the signal may succeed later.
 */
export class TransitionRefusedError extends PsiError {
  constructor(
    readonly instanceId: string,
    readonly waitState: string,
    readonly transition: string,
  ) {
    super(
      EngineErrorCode.TransitionRefused,
      `Wait state "${waitState}" of instance ${instanceId} refuses transition "${transition}" now: its guard does not allow it.`,
    );
  }

  protected override details(): unknown {
    return { instanceId: this.instanceId, waitState: this.waitState, transition: this.transition };
  }
}

/** Thrown by `start` when an instance with the requested `instanceId` already exists. */
export class InstanceExistsError extends PsiError {
  constructor(readonly instanceId: string) {
    super(
      EngineErrorCode.InstanceExists,
      `Process instance ${instanceId} already exists; start with another instanceId or omit it.`,
    );
  }
}

/**
 * Thrown when the state repository holds something for an instance that the engine cannot read
 * (not JSON, wrong shape, or a step its definition no longer has). The instance is left untouched.
 */
export class EngineStateError extends PsiError {
  constructor(
    readonly instanceId: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(
      EngineErrorCode.StateInvalid,
      `Stored state of instance ${instanceId} is unusable: ${problem}`,
      options,
    );
  }
}

/** Thrown by calls made after `engine.stop()`; create a new engine and `restore()` instead. */
export class EngineStoppedError extends PsiError {
  constructor(readonly engine: string) {
    super(
      EngineErrorCode.EngineStopped,
      `Engine "${engine}" is stopped; create a new engine and call restore().`,
    );
  }
}

/**
 * Thrown when variables handed to the engine cannot be stored as JSON (a circular structure, a
 * BigInt). Values JSON drops or rewrites (functions, `undefined`, Dates) are stored as JSON would.
 */
export class VariablesInvalidError extends PsiError {
  constructor(problem: string, options?: { cause?: unknown }) {
    super(
      EngineErrorCode.VariablesInvalid,
      `Variables cannot be stored as JSON: ${problem}`,
      options,
    );
  }
}

/**
 * Thrown by `start` when its options cannot be used (e.g. an `slaMs` that is not a positive
 * number). No instance is created.
 */
export class StartOptionsInvalidError extends PsiError {
  constructor(
    readonly definitionId: string,
    readonly problem: string,
  ) {
    super(EngineErrorCode.StartOptionsInvalid, `Cannot start "${definitionId}": ${problem}`);
  }
  protected override details(): unknown {
    return { definitionId: this.definitionId, problem: this.problem };
  }
}

/**
 * Thrown when a plugin is built whose engine package is not installed: `bpmn-engine` and
 * `xstate` are optional peer dependencies of `@psi/engines`, so a user of one engine does not
 * install the others. Install the package named in the message (the version range it gives).
 */
export class EngineDependencyMissingError extends PsiError {
  constructor(
    readonly dependency: string,
    readonly versionRange: string,
    readonly plugin: string,
    options?: { cause?: unknown },
  ) {
    super(
      EngineErrorCode.DependencyMissing,
      `${plugin} needs the package "${dependency}" (${versionRange}), an optional peer dependency of @psi/engines: npm install ${dependency}@"${versionRange}".`,
      options,
    );
  }
  protected override details(): unknown {
    return { dependency: this.dependency, versionRange: this.versionRange, plugin: this.plugin };
  }
}

/**
 * Reported (to the plugin's `onError`, and as the fault of the instance, which ends `failed`)
 * when an instance is running but can neither wait for PSI nor move by itself: no wait state, no
 * armed timer, nothing executing. Without it such an instance would sit `running` silently; the
 * message names the activities it rests at and the engine's error when it gave one.
 */
export class InstanceStalledError extends PsiError {
  constructor(
    readonly instanceId: string,
    readonly restsAt: readonly string[],
    readonly engineError?: string,
  ) {
    super(
      EngineErrorCode.InstanceStalled,
      `Instance ${instanceId} cannot move: it has no wait state, no armed timer and nothing running` +
        (restsAt.length > 0 ? ` (it rests at ${restsAt.join(', ')})` : '') +
        (engineError ? `; the engine said: ${engineError}` : '') +
        ". Its model uses something the plugin cannot wait for; see the README's table of BPMN elements.",
    );
  }
  protected override details(): unknown {
    return { instanceId: this.instanceId, restsAt: this.restsAt, engineError: this.engineError };
  }
}

/**
 * Thrown by `BpmnEnginePlugin.startByMessage` when no deployed process, or more than one, has a
 * message or signal start event for the event. No instance is created.
 */
export class MessageStartUnknownError extends PsiError {
  constructor(
    readonly event: string,
    readonly candidates: readonly string[],
  ) {
    super(
      EngineErrorCode.MessageStartUnknown,
      candidates.length === 0
        ? `No deployed process starts on "${event}": none has a message or signal start event for it.`
        : `"${event}" starts several deployed processes (${candidates.join(', ')}); start one with start(definitionId, variables, { startEvent }).`,
    );
  }
  protected override details(): unknown {
    return { event: this.event, candidates: this.candidates };
  }
}
