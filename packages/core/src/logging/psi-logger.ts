/** Levels of a {@link PsiLogger}, lowest first (pino's names and order). */
export const PSI_LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type PsiLogLevel = (typeof PSI_LOG_LEVELS)[number];

/** One level's method, called the pino way: `(fields, message)` or `(message)`. */
export interface PsiLogFn {
  (fields: object, message?: string): void;
  (message: string): void;
}

/**
 * The logger PSI writes to: the subset of pino's `Logger` that PSI uses, so a pino logger (or a
 * child of one, or anything shaped like it, e.g. fastify's `request.log`) can be passed as is.
 * Every field PSI logs is redacted first (see {@link psiLogger}).
 */
export interface PsiLogger {
  trace: PsiLogFn;
  debug: PsiLogFn;
  info: PsiLogFn;
  warn: PsiLogFn;
  error: PsiLogFn;
  fatal: PsiLogFn;
  /**
   * A logger that adds `bindings` to every line (PSI binds instanceId, invocationId, …).
   * `options` as pino's: fastify passes its serializers and a route's level this way.
   */
  child(bindings: Record<string, unknown>, options?: PsiChildLoggerOptions): PsiLogger;
  /** The lowest level written (pino's `level`); read to skip building lines nobody writes. */
  level?: string;
  /** pino's check; preferred over `level` when present. */
  isLevelEnabled?(level: string): boolean;
}

/** pino's child options that PSI and fastify use. */
export interface PsiChildLoggerOptions {
  level?: string;
  /** Turn a field (fastify's `req`, `res`, `err`) into what is logged, before redaction. */
  serializers?: Record<string, (value: never) => unknown>;
}

/**
 * The logger shape PSI took before `PsiLogger` (`CoordinatorLogger`, `RegistryLogger`,
 * `console`): a message, then a detail. Still accepted wherever a logger is: the fields of a
 * line (with the bindings) become the detail.
 */
export interface MessageFirstLogger {
  warn(message: string, detail?: unknown): void;
  error(message: string, detail?: unknown): void;
  /** @default not logged when the logger has no `info` */
  info?(message: string, detail?: unknown): void;
  /** @default not logged when the logger has no `debug` */
  debug?(message: string, detail?: unknown): void;
}

/**
 * What PSI's `logger` options take: a {@link PsiLogger} (pino, or a child of one), or the
 * older {@link MessageFirstLogger}; told apart at run time by `child`. Typed as what the two
 * have in common (a PsiLogger fits it), so an inline message-first object keeps the types of
 * its parameters.
 */
export interface PsiLoggerOption extends MessageFirstLogger {
  child?(bindings: Record<string, unknown>): unknown;
}

/** A pino-shaped logger (has `child`), as opposed to the message-first shape. */
export function isPinoShaped(logger: PsiLoggerOption): logger is PsiLogger {
  return typeof logger.child === 'function';
}
