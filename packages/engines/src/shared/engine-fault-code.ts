/**
 * Fault codes the engines raise or record themselves. Catch `SlaExceeded` with a reference
 * definition's `faults` map; the others are recorded on instances that ended `failed`.
 */
export const EngineFaultCode = {
  /**
   * Raised at the current state when an instance outlives its SLA: the `slaMs` given to
   * `start`, else its definition's.
   */
  SlaExceeded: 'PSI_SLA_EXCEEDED',
  /** Recorded when a script step throws; the instance ends `failed`. */
  ScriptFailed: 'PSI_ENGINE_SCRIPT_FAILED',
  /**
   * Recorded by the XState plugin when a transition throws (an action, guard or `assign`), or
   * the machine reaches its `error` status; the instance ends `failed`.
   */
  MachineFailed: 'PSI_XSTATE_MACHINE_FAILED',
  /**
   * Recorded by the XState plugin when a machine spawns or messages another actor, which a
   * persisted PSI instance cannot keep; the instance ends `failed`. Use service states instead.
   */
  ActorUnsupported: 'PSI_XSTATE_ACTOR_UNSUPPORTED',
} as const;
export type EngineFaultCode = (typeof EngineFaultCode)[keyof typeof EngineFaultCode];
