/**
 * Where registries report what they cannot throw (a broken edit of a watched file).
 * `console` fits; so does a pino or winston logger.
 */
export interface RegistryLogger {
  warn(message: string, ...context: unknown[]): void;
}
