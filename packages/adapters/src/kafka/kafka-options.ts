import type { ConnectionOptions } from 'node:tls';
import type {
  ConsumerConfig,
  KafkaConfig,
  logCreator as KafkaLogCreator,
  ProducerConfig,
  RetryOptions,
  SASLOptions,
} from 'kafkajs';
import { psiLogger, type PsiLogger, type PsiLoggerOption } from '@psi/core';
import { KafkaOptionsError } from '../errors';

/** kafkajs log levels by name (kafkajs' own enum is a runtime value we do not load eagerly). */
export type KafkaLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

/** How to reach the cluster; shared by {@link KafkaTransportOptions} and the KafkaServiceHost. */
export interface KafkaConnectionOptions {
  /** Bootstrap servers, `host:port`. */
  brokers: string[];
  /** Client id the brokers see in their logs and quotas. @default 'psi' */
  clientId?: string;
  /** TLS: `true` for the system CAs, or Node TLS options (ca, cert, key). @default false */
  ssl?: ConnectionOptions | boolean;
  /** SASL credentials, passed to kafkajs as they are (plain, scram-sha-256/512, aws, oauthbearer). */
  sasl?: SASLOptions;
  /** TCP connect timeout per broker. @default 3000 */
  connectionTimeoutMs?: number;
  /** SASL handshake timeout. @default 10000 */
  authenticationTimeoutMs?: number;
  /** Timeout of one protocol request. @default 30000 */
  requestTimeoutMs?: number;
  /** kafkajs retry of connection and protocol errors, inside one send or fetch. @default kafkajs' (5 retries from 300 ms) */
  retry?: RetryOptions;
  /** How much kafkajs logs. @default 'warn' */
  logLevel?: KafkaLogLevel;
  /** Routes kafkajs' log entries to your logger. @default `logger` when given, else kafkajs' console logger */
  logCreator?: KafkaLogCreator;
  /**
   * PSI's logger (see {@link PsiLogger}; the coordinator's fits): each send at debug, and, unless
   * `logCreator` is given, kafkajs' own entries (at `logLevel`) and the background failures
   * `onError` does not take, bound to `transport: 'kafka'` and kafkajs' namespace.
   * @default kafkajs' console logger for those, nothing for sends
   */
  logger?: PsiLoggerOption;
}

/** How a message whose handling failed is retried: its partition pauses, then it comes again. */
export interface KafkaRedeliveryPolicy {
  /** Pause after the first failure. @default 200 */
  initialDelayMs: number;
  /** Growth factor per consecutive failure of the same partition. @default 2 */
  multiplier: number;
  /** Upper bound of one pause. @default 10000 */
  maxDelayMs: number;
}

/** What failed in the background, given to `onError`. */
export interface KafkaErrorContext {
  /**
   * `receive`: the sink (or service handler) threw for a message; it is redelivered after
   * `retryInMs`, its offset uncommitted. `consumer`: the kafkajs consumer crashed.
   */
  kind: 'receive' | 'consumer';
  topic?: string;
  partition?: number;
  offset?: string;
  retryInMs?: number;
}

/** Options of the consuming side, shared by the transport (reply topics) and the service host. */
export interface KafkaConsumingOptions {
  /** kafkajs producer settings. `allowAutoTopicCreation` @default true */
  producer?: ProducerConfig;
  /**
   * kafkajs consumer settings (session timeout, heartbeat, fetch sizes). `maxWaitTimeInMs`
   * @default 1000 (kafkajs: 5000), which also bounds how long `stop` waits for an idle fetch.
   */
  consumer?: Omit<ConsumerConfig, 'groupId'>;
  /** Where a group without committed offsets starts: the earliest message (true) or new ones only. @default true */
  fromBeginning?: boolean;
  /** Pauses between redeliveries of a message whose handling failed. */
  redelivery?: Partial<KafkaRedeliveryPolicy>;
  /**
   * How many messages of one fetched partition batch are handled at once. Offsets are committed
   * only up to the first message whose handling has not resolved, so concurrency never commits
   * past an unhandled message; it gives up the order within a partition (PSI correlates answers
   * by key and parks early ones, so the transport's reply consumer does not need it).
   * @default 32 for the KafkaTransport's reply consumer; 1 (partition order) for the KafkaServiceHost
   */
  receiveConcurrency?: number;
  /** Reports background failures (failures are values there: nothing to throw to). @default logs through kafkajs' logger */
  onError?: (error: unknown, context: KafkaErrorContext) => void;
}

/** Options of the {@link KafkaTransport}. */
export interface KafkaTransportOptions extends KafkaConnectionOptions, KafkaConsumingOptions {
  /**
   * Consumer group reading the reply topics. Every node of one PSI application uses the same
   * group, so each answer is handled once. Required when `replyTopics` is not empty.
   */
  groupId?: string;
  /**
   * Topics this node consumes answers from. The first one is the default `x-psi-reply-to` of
   * requests whose coordinates name no `replyAddress`. Empty: the transport only sends. @default []
   */
  replyTopics?: string[];
  /** Per-send timeout when the coordinates name no `timeoutMs`. @default 30000 */
  defaultSendTimeoutMs?: number;
}

/** The consuming options with every default applied. */
export interface CompiledKafkaConsumingOptions {
  producer: ProducerConfig;
  consumer: Omit<ConsumerConfig, 'groupId'>;
  fromBeginning: boolean;
  redelivery: KafkaRedeliveryPolicy;
  receiveConcurrency: number;
  onError: ((error: unknown, context: KafkaErrorContext) => void) | undefined;
}

/** {@link KafkaTransportOptions} checked, with every default applied. */
export interface CompiledKafkaOptions extends CompiledKafkaConsumingOptions {
  kafka: KafkaConfig;
  groupId: string | undefined;
  replyTopics: string[];
  defaultSendTimeoutMs: number;
}

/** Default `receiveConcurrency` of the transport's reply consumer. */
const DEFAULT_REPLY_CONCURRENCY = 32;

const logLevels: Record<KafkaLogLevel, number> = {
  nothing: 0,
  error: 1,
  warn: 2,
  info: 4,
  debug: 5,
};

/** Checks transport options and applies defaults. @throws KafkaOptionsError naming the bad option. */
export function compileKafkaOptions(options: KafkaTransportOptions): CompiledKafkaOptions {
  const replyTopics = options.replyTopics ?? [];
  if (!Array.isArray(replyTopics) || replyTopics.some((t) => typeof t !== 'string' || t === '')) {
    throw new KafkaOptionsError('"replyTopics" must be an array of non-empty topic names.');
  }
  if (replyTopics.length > 0 && !options.groupId) {
    throw new KafkaOptionsError(
      '"groupId" is required when "replyTopics" are given; use one group for every node of the application.',
    );
  }
  return {
    kafka: compileKafkaConnection(options),
    ...compileKafkaConsuming(options, { receiveConcurrency: DEFAULT_REPLY_CONCURRENCY }),
    groupId: options.groupId,
    replyTopics: [...replyTopics],
    defaultSendTimeoutMs: positive('defaultSendTimeoutMs', options.defaultSendTimeoutMs, 30000),
  };
}

/** The kafkajs client config for connection options. @throws KafkaOptionsError */
export function compileKafkaConnection(options: KafkaConnectionOptions): KafkaConfig {
  const { brokers } = options;
  if (
    !Array.isArray(brokers) ||
    brokers.length === 0 ||
    brokers.some((b) => typeof b !== 'string' || b === '')
  ) {
    throw new KafkaOptionsError('"brokers" must list at least one "host:port".');
  }
  const logLevel = options.logLevel ?? 'warn';
  if (!(logLevel in logLevels)) {
    throw new KafkaOptionsError(`"logLevel" must be one of ${Object.keys(logLevels).join(', ')}.`);
  }
  return {
    brokers: [...brokers],
    clientId: options.clientId ?? 'psi',
    ssl: options.ssl,
    sasl: options.sasl,
    connectionTimeout: positive('connectionTimeoutMs', options.connectionTimeoutMs, 3000),
    authenticationTimeout: positive(
      'authenticationTimeoutMs',
      options.authenticationTimeoutMs,
      10000,
    ),
    requestTimeout: positive('requestTimeoutMs', options.requestTimeoutMs, 30000),
    retry: options.retry,
    logLevel: logLevels[logLevel],
    logCreator:
      options.logCreator ??
      (options.logger ? kafkaLogCreator(kafkaLog(options.logger)) : undefined),
  };
}

/**
 * The consuming options with defaults applied; `defaults.receiveConcurrency` is the user's
 * default (the service host keeps partition order). @throws KafkaOptionsError
 */
export function compileKafkaConsuming(
  options: KafkaConsumingOptions,
  defaults: { receiveConcurrency: number } = { receiveConcurrency: 1 },
): CompiledKafkaConsumingOptions {
  const redelivery: KafkaRedeliveryPolicy = {
    initialDelayMs: positive('redelivery.initialDelayMs', options.redelivery?.initialDelayMs, 200),
    multiplier: positive('redelivery.multiplier', options.redelivery?.multiplier, 2),
    maxDelayMs: positive('redelivery.maxDelayMs', options.redelivery?.maxDelayMs, 10000),
  };
  if (redelivery.multiplier < 1)
    throw new KafkaOptionsError('"redelivery.multiplier" must be at least 1.');
  return {
    producer: { allowAutoTopicCreation: true, ...options.producer },
    consumer: { maxWaitTimeInMs: 1000, ...options.consumer },
    fromBeginning: options.fromBeginning ?? true,
    redelivery,
    receiveConcurrency: positiveInteger(
      'receiveConcurrency',
      options.receiveConcurrency,
      defaults.receiveConcurrency,
    ),
    onError: options.onError,
  };
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new KafkaOptionsError(`"${name}" must be a positive number, not ${String(value)}.`);
  }
  return value;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const checked = positive(name, value, fallback);
  if (!Number.isInteger(checked)) {
    throw new KafkaOptionsError(`"${name}" must be a positive integer, not ${String(value)}.`);
  }
  return checked;
}

/** PSI's logger of the Kafka transport and service host. */
export function kafkaLog(logger: PsiLoggerOption | undefined): PsiLogger {
  return psiLogger(logger).child({ transport: 'kafka' });
}

/** kafkajs' entries written to a PsiLogger: its level, its message, its fields (redacted). */
function kafkaLogCreator(logger: PsiLogger): KafkaLogCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, ...rest } = log;
      // kafkajs' own timestamp and logger name repeat what the line already has.
      const fields = Object.fromEntries(
        Object.entries(rest).filter(([key]) => key !== 'timestamp' && key !== 'logger'),
      );
      const target =
        level <= logLevels.error
          ? 'error'
          : level <= logLevels.warn
            ? 'warn'
            : level <= logLevels.info
              ? 'info'
              : 'debug';
      logger[target]({ namespace, ...fields }, message);
    };
}
