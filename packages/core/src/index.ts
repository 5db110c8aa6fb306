/**
 * `@psi/core`: the coordinator, the adapter API and the store.
 *
 * Adapters are classes: `@Input()` fields are read from the instance's variables and validated,
 * `@UseService()` proxies send through a transport, `@OnResponse()` methods handle the answer when
 * it comes back (minutes or weeks later, early, twice, or racing a timeout). The coordinator
 * stores what it waits for in `PsiStore` (SQLite file by default, PostgreSQL for several nodes),
 * parks answers that come before the instance waits, and signals the engine. A runnable version
 * of this example is `samples/procurement` (`npm run demo`).
 *
 * @example
 * ```ts
 * import { Coordinator, PsiStore } from '@psi/core';
 * import { InProcessTransport } from '@psi/adapters';
 * import { ReferenceEngine } from '@psi/engines';
 * import { StaticRegistry } from '@psi/registry';
 *
 * const store = await PsiStore.open(); // .psi/psi.sqlite, migrated on open
 * const engine = new ReferenceEngine({ definitions: [procurementProcess], stateRepository: store.engineStates() });
 * const coordinator = await Coordinator.create({
 *   store,
 *   engine,
 *   registry: new StaticRegistry({ supplier: { transport: 'in-process', address: 'supplier' } }),
 *   transports: [new InProcessTransport().register('supplier', supplierImplementation)],
 *   adapters: [SendOrderAdapter],
 * });
 * await coordinator.start();
 * await engine.restore();
 * const id = await engine.start('procurement', { item: 'bolts', quantity: 500 });
 * // the supplier's answer, however it arrives (HTTP, Kafka, in-process):
 * await coordinator.receive({ event: 'order-confirmed', businessKey: { orderNumber: 'PO-1' }, payload: confirmation });
 * ```
 *
 * Adapters are unit-tested with `AdapterTestKit` (`@psi/core/testing`); whole flows with
 * `@psi/testing`.
 */
import 'reflect-metadata';

export {
  PsiError,
  PsiErrorCode,
  BusinessError,
  AdapterDefinitionError,
  AdapterNotFoundError,
  AdapterInputError,
  ResponseValidationError,
  UnknownServiceError,
  UnknownTransportError,
  TransportTechnicalError,
  TransportBusinessError,
  EngineSignalRejectedError,
  InstanceNotFoundError,
  InvocationNotFoundError,
  InvocationNotFrozenError,
  StepEntryUndoneError,
  DeadLetterNotFoundError,
  GuardNotOwnerError,
  CoordinatorClosedError,
  StoreConfigError,
  InboundMessageError,
  MessageLimitError,
  CallbackBindingError,
  CoordinatorOptionsError,
  isMessageRejection,
  OperationInvalidError,
  OperationReasonRequiredError,
  OperationNotConfirmedError,
  OperationNotFoundError,
  ParkedAnswerNotFoundError,
  GuardNotHeldError,
} from './errors';
export type { FieldViolation } from './errors';

export { ProcessEngine } from './spi/process-engine';
export type {
  Variables,
  SignalOptions,
  EngineEvent,
  EngineEventListener,
  ServiceStepEnteredEvent,
  WaitStateEnteredEvent,
  WaitStateLeftEvent,
  AwaitedMessage,
  MessageStart,
  InstanceEndedEvent,
} from './spi/process-engine';
export { Transport } from './spi/transport';
export type {
  OutboundRequest,
  DispatchResult,
  InboundMessage,
  InboundSink,
  AnswerBinding,
  RejectedInbound,
  ReceiveOutcome,
  DeadLetterReason,
} from './spi/transport';
export { ServiceRegistry } from './spi/service-registry';
export type { ServiceCoordinates, RetryPolicy, ResolveHints } from './spi/service-registry';
export {
  EngineStateRepository,
  InMemoryEngineStateRepository,
} from './spi/engine-state-repository';
export type { EngineStateIndex, EngineStateListFilter } from './spi/engine-state-repository';

export { ServiceAdapter } from './adapter/service-adapter.decorator';
export type { ServiceAdapterOptions } from './adapter/service-adapter.decorator';
export { Input, Output } from './adapter/variable.decorators';
export type { InputOptions } from './adapter/variable.decorators';
export { UseService } from './adapter/service-contract.decorator';
export { OnResponse } from './adapter/on-response.decorator';
export { WaitBinding } from './adapter/wait-binding.decorator';
export type { OnResponseOptions } from './adapter/on-response.decorator';
export type { ResponseContext } from './adapter/response-context';
export { readAdapterModel } from './adapter/adapter-model';
export type {
  AdapterModel,
  ResponseHandlerModel,
  ServiceAdapterInstance,
} from './adapter/adapter-model';

export { Coordinator } from './runtime/coordinator';
export type { InvocationInfo } from './runtime/coordinator';
export type { CoordinatorOptions, CoordinatorLogger } from './runtime/coordinator-options';
export type {
  PsiLogger,
  PsiLogFn,
  PsiLogLevel,
  PsiLoggerOption,
  PsiChildLoggerOptions,
  MessageFirstLogger,
} from './logging/psi-logger';
export { psiLogger, type PsiLoggerOptions } from './logging/prepared-logger';
export type { LogRedactionOptions } from './logging/log-redaction';
export { systemClock } from './runtime/psi-clock';
export type { PsiClock } from './runtime/psi-clock';
export type { CoordinatorStats } from './runtime/coordinator-stats';
export {
  DEFAULT_INBOUND_LIMITS,
  checkIdentifier,
  checkDepth,
  compileInboundLimits,
} from './correlation/inbound-limits';
export type { InboundLimits, CompiledInboundLimits } from './correlation/inbound-limits';
export type { RetentionOptions } from './runtime/retention-options';
export type { RetentionReport } from './runtime/retention';
export type { InvocationResult } from './invocation/invoker';
export type { TraceEvent } from './records/audit-log';
export type { ObservabilityOptions } from './observability/observability-options';
export {
  TRACE_HEADERS,
  contextFromTraceHeaders,
  readTraceHeaders,
  storedTraceOf,
  traceHeadersOf,
} from './observability/trace-context';
export type { StoredTrace, TraceHeaders } from './observability/trace-context';
export { DEFAULT_GAUGE_CACHE_MS } from './observability/store-gauges';
export type { DeadLetter, DeadLetterFilter } from './records/dead-letters';
export type { ReplayOutcome } from './correlation/dead-letter-replay';
export { messageStartInstanceId } from './correlation/message-starts';
export { KeyedMutex } from './runtime/keyed-mutex';
export { ProcessGuard } from './records/process-guard';
export type { GuardStartResult, GuardStatus } from './records/process-guard';
export { PsiSignalIds } from './runtime/signal-ids';
export { PsiStore } from './store/psi-store';
export { migrateStore } from './cli/psi-migrate';
export type { MigrationReport } from './cli/psi-migrate';
export { DEFAULT_SQLITE_PATH } from './store/store-options';
export type { SqliteDriverName, SqliteDurability, StoreOptions } from './store/store-options';
export { InProcessReadinessNotifier, PostgresReadinessNotifier } from './store/readiness-notifier';
export type {
  ReadinessNotifier,
  ReadinessListener,
  ResyncListener,
} from './store/readiness-notifier';
export type { AuditKind } from './store/entities/audit-entry.entity';

export { PsiOperations, isFinished } from './operations/psi-operations';
export type { PsiOperationsOptions } from './operations/psi-operations';
export { OperationRunner } from './operations/operation-runner';
export type { OperationRunnerOptions } from './operations/operation-runner';
export type { ActionExecutor, OperationContext } from './operations/action-executor';
export {
  RECORD_LISTS,
  OPERATOR_ACTIONS,
  ACTION_LISTS,
  DEAD_LETTER_REASONS,
} from './operations/record-filter';
export type {
  RecordList,
  RecordFilter,
  RecordView,
  Page,
  PageRequest,
  ExpectationView,
  ParkedView,
  ParkedReason,
  DeadLetterView,
  DeadLetterGroup,
  InvocationView,
  GuardView,
  AuditEntryView,
  TimelineEntry,
  InstanceTimeline,
  Overview,
  ActivitySeries,
  OperatorAction,
  OperatorContext,
  InjectedAnswer,
  ActionTarget,
  ActionRequest,
  ActionPreview,
  OperationView,
  OperationItemView,
  ItemOutcome,
} from './operations/operation-types';
export type { OperationStatus } from './store/entities/operation.entity';
export type { OperationItemStatus } from './store/entities/operation-item.entity';
