import { PsiError, PsiErrorCode } from '../errors';

/** An error as audit entries, dead letters and logs keep it (JSON). */
export function describe(error: unknown): unknown {
  if (PsiError.is(error)) return error.toJSON();
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { message: String(error) };
}

/** The engine refused a signal because the instance is not at the wait state it names. */
export function isSignalRejected(error: unknown): boolean {
  return PsiError.is(error) && error.code === PsiErrorCode.EngineSignalRejected;
}
