/**
 * Fault codes the reference engine raises or records itself. Catch `SlaExceeded` with a
 * definition's `faults` map; `ScriptFailed` is recorded on instances that ended `failed`.
 */
export const EngineFaultCode = {
  /** Raised at the current state when an instance outlives its definition's `slaMs`. */
  SlaExceeded: 'PSI_SLA_EXCEEDED',
  /** Recorded when a script step throws; the instance ends `failed`. */
  ScriptFailed: 'PSI_ENGINE_SCRIPT_FAILED',
} as const;
export type EngineFaultCode = (typeof EngineFaultCode)[keyof typeof EngineFaultCode];
