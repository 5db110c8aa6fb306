import 'reflect-metadata';

export {
  PsiError,
  PsiErrorCode,
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
  DeadLetterNotFoundError,
  GuardNotOwnerError,
  CoordinatorClosedError,
  StoreConfigError,
  InboundMessageError,
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
  InstanceEndedEvent,
} from './spi/process-engine';
export { Transport } from './spi/transport';
export type {
  OutboundRequest,
  DispatchResult,
  InboundMessage,
  InboundSink,
  ReceiveOutcome,
  DeadLetterReason,
} from './spi/transport';
export { ServiceRegistry } from './spi/service-registry';
export type { ServiceCoordinates, RetryPolicy, ResolveHints } from './spi/service-registry';
export { EngineStateRepository, InMemoryEngineStateRepository } from './spi/engine-state-repository';

export { ServiceAdapter } from './adapter/service-adapter.decorator';
export type { ServiceAdapterOptions } from './adapter/service-adapter.decorator';
export { Input, Output } from './adapter/variable.decorators';
export type { InputOptions } from './adapter/variable.decorators';
export { UseService } from './adapter/service-contract.decorator';
export { OnResponse } from './adapter/on-response.decorator';
export type { OnResponseOptions } from './adapter/on-response.decorator';
export { readAdapterModel } from './adapter/adapter-model';
export type { AdapterModel, ServiceAdapterInstance } from './adapter/adapter-model';
