import { randomBytes } from 'node:crypto';
import type { ObservabilityOptions } from '../observability/observability-options';
import * as os from 'node:os';
import { Container } from 'inversify';
import type { Constructor } from '../adapter/metadata-keys';
import type { ProcessEngine } from '../spi/process-engine';
import type { RetryPolicy, ServiceRegistry } from '../spi/service-registry';
import type { Transport } from '../spi/transport';
import type { PsiStore } from '../store/psi-store';
import type { NodeLiveness } from '../store/node-liveness';
import type { ReadinessNotifier } from '../store/readiness-notifier';
import type { TraceEvent } from '../records/audit-log';
import { toPsiClock, type PsiClock } from './psi-clock';
import { psiLogger } from '../logging/prepared-logger';
import type { MessageFirstLogger, PsiLogger, PsiLoggerOption } from '../logging/psi-logger';
import { CoordinatorOptionsError } from '../errors';
import {
  compileRetention,
  type CompiledRetention,
  type RetentionOptions,
} from './retention-options';
import {
  compileInboundLimits,
  type CompiledInboundLimits,
  type InboundLimits,
} from '../correlation/inbound-limits';

/**
 * The logger shape the coordinator took before {@link PsiLogger}: still accepted.
 * @deprecated pass a pino-shaped {@link PsiLogger}; this is {@link MessageFirstLogger}.
 */
export type CoordinatorLogger = MessageFirstLogger;

/** Everything a coordinator needs. */
export interface CoordinatorOptions {
  store: PsiStore;
  engine: ProcessEngine;
  registry: ServiceRegistry;
  transports: Transport[];
  /** Adapter classes (decorated with `@ServiceAdapter`). */
  adapters: Constructor[];
  /**
   * Wait binding classes (`@WaitBinding`): what wait states with no service call before them
   * wait for, where the engine's model says too little. @default []
   */
  waitBindings?: Constructor[];
  /** Your inversify container, for the collaborators adapters inject. @default a new Container */
  container?: Container;
  /** A second message with the same id within this window is ignored. @default 86_400_000 (24 h) */
  dedupeWindowMs?: number;
  /** How long an answer is parked when the registry gives no TTL. @default 604_800_000 (7 days) */
  defaultParkingTtlMs?: number;
  /** Retry policy for services whose coordinates give none. */
  defaultRetry?: Partial<RetryPolicy>;
  /** Called for every audit entry as it is written: for traces and metrics. */
  onTrace?: (event: TraceEvent) => void;
  /**
   * Where the coordinator logs: a pino logger (or anything {@link PsiLogger}-shaped), or the
   * older message-first shape. Background failures at error, what an operator should look at
   * at warn (frozen invocations, unknown events), flow steps an operator follows at info
   * (timeouts, retries, dead letters, recovery) and debug (sent, received, parked, delivered),
   * each line bound to its instanceId, invocationId, correlationKey, messageId and event.
   * Payloads, variables and credentials are redacted first (see {@link psiLogger}).
   * @default the console at info and above
   */
  logger?: PsiLoggerOption;
  /**
   * The time PSI reads and the timers it sets for deadlines, parking TTLs, retry backoff, leases
   * and retention: a {@link PsiClock}, or just epoch ms (`() => number`, timers stay Node's).
   * `@psi/testing` passes a clock the test moves. @default the system clock (`Date.now`)
   */
  clock?: PsiClock | (() => number);
  /**
   * Numbers in [0, 1] for the jitter of retry backoff (half of each delay is random). `() => 1`
   * gives the policy's nominal delays, as `@psi/testing` does. @default Math.random
   */
  random?: () => number;
  /**
   * Longest sleep of the deadline scheduler: how late a deadline or parking TTL written by
   * another process sharing the store is noticed at most (this node's own are met on time).
   * `Infinity` where no other process writes the store (a test clock: no polling). @default 1_000
   */
  deadlinePollMs?: number;
  /**
   * This node's name in leases and claims (several nodes on one PostgreSQL database). A node
   * restarted under the same id takes its own unfinished work back at start. Other nodes take
   * a dead node's work over as soon as its liveness lock is gone (PostgreSQL), else once its
   * leases lapse. Give each live node its own id (e.g. the pod name); on SQLite, processes
   * sharing a file need distinct ids too.
   * @default 'local' on SQLite (one node), else `<hostname>-<pid>-<random>`
   */
  nodeId?: string;
  /**
   * How long a lease on a running invocation, or a claim on an answer being delivered, lasts
   * without renewal (renewed every third of it). A dead node's work is taken over this long
   * after its last renewal, unless its death is known sooner (liveness). @default 30_000
   */
  leaseMs?: number;
  /**
   * Readiness notifications between the nodes sharing the store: a node that parks an answer for
   * an instance its engine cannot deliver to tells the others. @default `store.readiness()`
   * (PostgreSQL LISTEN/NOTIFY; within the process on SQLite)
   */
  readiness?: ReadinessNotifier;
  /**
   * Limits on inbound messages (id, key and event name lengths, payload depth), checked before
   * anything is stored; a message over one is refused with MessageLimitError (see SECURITY.md).
   */
  limits?: InboundLimits;
  /**
   * Answers parked at most under one key (event + correlation key, else business key): one more
   * becomes a `parking-full` dead letter instead (kept, replayable), so answers for a key that
   * never comes cannot fill the store. @default 100
   */
  maxParkedPerKey?: number;
  /** How long dead letters, audit entries and dedupe ids are kept (see RetentionOptions). */
  retention?: RetentionOptions;
  /**
   * Operator actions (`coordinator.operations`, the `psi` CLI, the console): this node runs
   * the action runs submitted by any process sharing the store, woken by a notice (PostgreSQL)
   * or by looking every `pollMs`. `run: false` leaves them to other nodes.
   * @default { run: true, pollMs: 500 } on SQLite (a CLI in another process has no way to wake
   * the node but the poll); 5,000 on PostgreSQL, whose notices cross processes (the poll is
   * only a safety net there)
   */
  operations?: { run?: boolean; pollMs?: number };
  /**
   * Which nodes sharing the store are alive: a dead node's claims and leases are taken over as
   * soon as its death is known instead of once they lapse. @default `store.liveness()`
   * (PostgreSQL: a session-level advisory lock per live node; SQLite: only a node's own id)
   */
  liveness?: NodeLiveness;
  /**
   * OpenTelemetry tracer and meter providers, and the store gauges' cache (README
   * "Observability"). @default the global providers: no-ops unless the application installs an SDK
   */
  observability?: ObservabilityOptions;
}

export interface CompiledCoordinatorOptions extends Required<
  Omit<
    CoordinatorOptions,
    'onTrace' | 'defaultRetry' | 'limits' | 'retention' | 'operations' | 'clock' | 'logger'
  >
> {
  /** The logger behind PSI's redaction. */
  logger: PsiLogger;
  /** Epoch ms now (`timers.now`). */
  clock: () => number;
  /** The clock whose timers PSI sets. */
  timers: PsiClock;
  onTrace: ((event: TraceEvent) => void) | undefined;
  defaultRetry: RetryPolicy;
  limits: CompiledInboundLimits;
  retention: CompiledRetention;
  operations: { run: boolean; pollMs: number };
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 5,
  initialDelayMs: 100,
  multiplier: 2,
  maxDelayMs: 30_000,
};

export function compileCoordinatorOptions(options: CoordinatorOptions): CompiledCoordinatorOptions {
  const maxParkedPerKey = options.maxParkedPerKey ?? 100;
  if (!Number.isInteger(maxParkedPerKey) || maxParkedPerKey < 1) {
    throw new CoordinatorOptionsError(
      `maxParkedPerKey must be a positive integer (got ${maxParkedPerKey}).`,
    );
  }
  const dedupeWindowMs = options.dedupeWindowMs ?? 86_400_000;
  const timers = toPsiClock(options.clock);
  const deadlinePollMs = options.deadlinePollMs ?? 1_000;
  if (!(deadlinePollMs > 0)) {
    throw new CoordinatorOptionsError(`deadlinePollMs must be positive (got ${deadlinePollMs}).`);
  }
  return {
    ...options,
    container: options.container ?? new Container(),
    waitBindings: options.waitBindings ?? [],
    dedupeWindowMs,
    defaultParkingTtlMs: options.defaultParkingTtlMs ?? 604_800_000,
    defaultRetry: { ...DEFAULT_RETRY, ...options.defaultRetry },
    onTrace: options.onTrace,
    logger: psiLogger(options.logger),
    clock: () => timers.now(),
    timers,
    deadlinePollMs,
    random: options.random ?? Math.random,
    nodeId: options.nodeId ?? defaultNodeId(options.store),
    leaseMs: options.leaseMs ?? 30_000,
    readiness: options.readiness ?? options.store.readiness(),
    limits: compileInboundLimits(options.limits),
    maxParkedPerKey,
    retention: compileRetention(options.retention, dedupeWindowMs),
    operations: {
      run: options.operations?.run ?? true,
      pollMs: options.operations?.pollMs ?? (options.store.kind === 'postgres' ? 5_000 : 500),
    },
    liveness: options.liveness ?? options.store.liveness(),
    observability: options.observability ?? {},
  };
}

function defaultNodeId(store: PsiStore): string {
  return store.kind === 'sqlite'
    ? 'local'
    : `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}
