import { compileRedaction, type LogRedactionOptions, type Redactor } from './log-redaction';
import {
  isPinoShaped,
  type PsiChildLoggerOptions,
  PSI_LOG_LEVELS,
  type MessageFirstLogger,
  type PsiLogFn,
  type PsiLogger,
  type PsiLoggerOption,
  type PsiLogLevel,
} from './psi-logger';

/** How {@link psiLogger} prepares a logger. */
export interface PsiLoggerOptions {
  /**
   * Redaction of the fields PSI logs, before your logger sees them; `false` turns it off (your
   * logger's own redaction, e.g. pino's `redact`, still applies). @default on, default keys
   */
  redact?: LogRedactionOptions | false;
}

/** A field serializer, as pino and fastify pass them (`req`, `res`, `err`). */
type Serializers = Record<string, (value: never) => unknown>;

const PREPARED = Symbol.for('@psi/core/PreparedLogger');

/**
 * The logger every PSI component writes to: `logger` (pino-shaped, or the older message-first
 * shape, or nothing for the default) behind PSI's redaction. Components call it on the logger
 * they are given; a logger it returned is used as it is, so call it yourself only to configure
 * redaction (`psiLogger(pino(), { redact: false })`) and pass the result to every component.
 */
export function psiLogger(logger?: PsiLoggerOption, options: PsiLoggerOptions = {}): PsiLogger {
  if (logger && (logger as { [PREPARED]?: true })[PREPARED]) return logger as PsiLogger;
  const sink =
    logger === undefined
      ? defaultConsoleLogger()
      : isPinoShaped(logger)
        ? logger
        : messageFirstAdapter(logger, {});
  return new RedactingLogger(sink, compileRedaction(options.redact), {});
}

/**
 * What PSI writes to without a logger: the console, at info and above (debug lines are one per
 * message and would flood stdout). Not silent, because background failures and warnings have
 * nowhere else to go, and this is what PSI did before loggers were pino-shaped.
 */
function defaultConsoleLogger(): PsiLogger {
  return messageFirstAdapter(
    {
      warn: (message, detail) => console.warn(`[psi] ${message}`, detail ?? ''),
      error: (message, detail) => console.error(`[psi] ${message}`, detail ?? ''),
      info: (message, detail) => console.info(`[psi] ${message}`, detail ?? ''),
    },
    {},
  );
}

class RedactingLogger implements PsiLogger {
  readonly [PREPARED] = true;
  readonly trace = this.method('trace');
  readonly debug = this.method('debug');
  readonly info = this.method('info');
  readonly warn = this.method('warn');
  readonly error = this.method('error');
  readonly fatal = this.method('fatal');

  constructor(
    private readonly inner: PsiLogger,
    private readonly redactor: Redactor,
    /** fastify hands its `req`/`res`/`err` serializers to `child`; applied here, before redaction. */
    readonly serializers: Serializers,
  ) {}

  get level(): string {
    return this.inner.level ?? 'info';
  }

  set level(level: string) {
    this.inner.level = level;
  }

  /** fastify's loggers have it; PSI never writes at it. */
  silent(): void {}

  isLevelEnabled(level: string): boolean {
    if (this.inner.isLevelEnabled) return this.inner.isLevelEnabled(level);
    return levelEnabled(this.inner.level, level);
  }

  child(bindings: Record<string, unknown>, options?: PsiChildLoggerOptions): PsiLogger {
    const serializers = { ...this.serializers, ...options?.serializers };
    const fields = this.redactor.fields(serialize(bindings, serializers)) as Record<
      string,
      unknown
    >;
    // Serializers run here (the user's logger may have none); only the level goes on.
    const inner = options?.level
      ? this.inner.child(fields, { level: options.level })
      : this.inner.child(fields);
    return new RedactingLogger(inner, this.redactor, serializers);
  }

  private method(level: PsiLogLevel): PsiLogFn {
    return ((first: unknown, message?: string): void => {
      if (!this.isLevelEnabled(level)) return;
      const write = this.inner[level] as (a: unknown, b?: string) => void;
      if (typeof first === 'string') {
        write.call(this.inner, this.redactor.text(first));
        return;
      }
      const fields =
        first !== null && typeof first === 'object'
          ? this.redactor.fields(serialize(first, this.serializers))
          : first;
      if (message === undefined) write.call(this.inner, fields);
      else write.call(this.inner, fields, this.redactor.text(message));
    }) as PsiLogFn;
  }
}

function serialize(fields: object, serializers: Serializers): object {
  const proto = Object.getPrototypeOf(fields) as unknown;
  if (proto !== Object.prototype && proto !== null) return fields;
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(serializers)) {
    const value = (fields as Record<string, unknown>)[key];
    if (value === undefined) continue;
    out ??= { ...(fields as Record<string, unknown>) };
    out[key] = (serializers[key] as (v: unknown) => unknown)(value);
  }
  return out ?? fields;
}

function levelEnabled(threshold: string | undefined, level: string): boolean {
  if (threshold === undefined) return true;
  if (threshold === 'silent') return false;
  const at = PSI_LOG_LEVELS.indexOf(threshold as PsiLogLevel);
  return at < 0 || PSI_LOG_LEVELS.indexOf(level as PsiLogLevel) >= at;
}

/**
 * A message-first logger (`warn(message, detail)`) seen as a PsiLogger: the line's fields,
 * with the bindings, become the detail; trace goes to `debug`, fatal to `error`.
 */
function messageFirstAdapter(
  logger: MessageFirstLogger,
  bindings: Record<string, unknown>,
): PsiLogger {
  const target = (
    level: PsiLogLevel,
  ): ((message: string, detail?: unknown) => void) | undefined => {
    switch (level) {
      case 'trace':
      case 'debug':
        return logger.debug?.bind(logger);
      case 'info':
        return logger.info?.bind(logger);
      case 'warn':
        return logger.warn.bind(logger);
      default:
        return logger.error.bind(logger);
    }
  };
  const method = (level: PsiLogLevel): PsiLogFn =>
    ((first: unknown, message?: string): void => {
      const write = target(level);
      if (!write) return;
      if (typeof first === 'string') {
        write(first, Object.keys(bindings).length > 0 ? { ...bindings } : undefined);
        return;
      }
      const detail =
        first instanceof Error
          ? Object.keys(bindings).length > 0
            ? { ...bindings, err: first }
            : first
          : { ...bindings, ...(first as object) };
      const keys = Object.keys(detail);
      const empty = !(first instanceof Error) && keys.length === 0;
      // A line that holds only an error passes the error as the detail, as this shape always had.
      const lone =
        keys.length === 1 && keys[0] === 'err' ? (detail as { err: unknown }).err : detail;
      write(message ?? '', empty ? undefined : lone);
    }) as PsiLogFn;
  return {
    level: logger.debug ? 'debug' : logger.info ? 'info' : 'warn',
    trace: method('trace'),
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    fatal: method('fatal'),
    child: (more) => messageFirstAdapter(logger, { ...bindings, ...more }),
  };
}
