// Over 400 lines: every error class of @psi/core with its stable code, in one file as the
// project keeps errors (one errors.ts per package); each class is a few lines.
/** Stable error codes of @psi/core. Codes never change meaning; new ones are added. */
export const PsiErrorCode = {
  AdapterDefinitionInvalid: 'PSI_ADAPTER_DEFINITION_INVALID',
  AdapterNotFound: 'PSI_ADAPTER_NOT_FOUND',
  AdapterInputInvalid: 'PSI_ADAPTER_INPUT_INVALID',
  ResponseInvalid: 'PSI_RESPONSE_INVALID',
  ServiceUnknown: 'PSI_SERVICE_UNKNOWN',
  TransportUnknown: 'PSI_TRANSPORT_UNKNOWN',
  TransportTechnical: 'PSI_TRANSPORT_TECHNICAL',
  TransportBusiness: 'PSI_TRANSPORT_BUSINESS',
  EngineSignalRejected: 'PSI_ENGINE_SIGNAL_REJECTED',
  InstanceNotFound: 'PSI_INSTANCE_NOT_FOUND',
  InvocationNotFound: 'PSI_INVOCATION_NOT_FOUND',
  InvocationNotFrozen: 'PSI_INVOCATION_NOT_FROZEN',
  DeadLetterNotFound: 'PSI_DEAD_LETTER_NOT_FOUND',
  GuardNotOwner: 'PSI_GUARD_NOT_OWNER',
  CoordinatorClosed: 'PSI_COORDINATOR_CLOSED',
  StoreConfigInvalid: 'PSI_STORE_CONFIG_INVALID',
  MessageInvalid: 'PSI_MESSAGE_INVALID',
  Timeout: 'PSI_TIMEOUT',
  MessageLimitExceeded: 'PSI_MESSAGE_LIMIT_EXCEEDED',
  CallbackBindingViolated: 'PSI_CALLBACK_BINDING_VIOLATED',
  CoordinatorOptionsInvalid: 'PSI_COORDINATOR_OPTIONS_INVALID',
  OperationInvalid: 'PSI_OPERATION_INVALID',
  OperationReasonRequired: 'PSI_OPERATION_REASON_REQUIRED',
  OperationNotConfirmed: 'PSI_OPERATION_NOT_CONFIRMED',
  OperationNotFound: 'PSI_OPERATION_NOT_FOUND',
  ParkedAnswerNotFound: 'PSI_PARKED_ANSWER_NOT_FOUND',
  GuardNotHeld: 'PSI_GUARD_NOT_HELD',
  StepEntryUndone: 'PSI_STEP_ENTRY_UNDONE',
} as const;
export type PsiErrorCode = (typeof PsiErrorCode)[keyof typeof PsiErrorCode];

// A Symbol.for brand survives jest's per-test module registries, where `instanceof` does not.
const psiErrorBrand = Symbol.for('@psi/core/PsiError');
const businessErrorBrand = Symbol.for('@psi/core/BusinessError');

/** Base of every error PSI throws: a stable `code`, a message that says how to fix it, `cause` kept. */
export class PsiError extends Error {
  readonly [psiErrorBrand] = true;

  constructor(
    readonly code: PsiErrorCode | string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${message} [${code}]`, options);
    this.name = new.target.name;
  }

  /** True for any PsiError, even one created by another copy of this module. */
  static is(value: unknown): value is PsiError {
    return typeof value === 'object' && value !== null && psiErrorBrand in value;
  }

  /** The shape errors take when they cross a transport or land in a dead letter. */
  toJSON(): { name: string; code: string; message: string; details?: unknown } {
    return { name: this.name, code: this.code, message: this.message, details: this.details() };
  }

  protected details(): unknown {
    return undefined;
  }
}

/** One failed field of a class-validator check, with its dotted path. */
export interface FieldViolation {
  /** Dotted path of the field, e.g. `order.lines.0.quantity`. */
  path: string;
  /** The class-validator messages for that field. */
  messages: string[];
}

/**
 * A business outcome an adapter (or a service) reports on purpose: "credit limit exceeded",
 * "unknown customer". It is not retried; it goes back to the process as `transition` when given,
 * else as a fault with this `code` that the process can catch.
 */
export class BusinessError extends PsiError {
  readonly [businessErrorBrand] = true;

  /** True for any BusinessError (the code is the user's, so it can not be told by code). */
  static override is(value: unknown): value is BusinessError {
    return PsiError.is(value) && businessErrorBrand in value;
  }

  constructor(
    code: string,
    message: string,
    readonly transition?: string,
    readonly data?: unknown,
  ) {
    super(code, message);
  }
  protected override details(): unknown {
    return { transition: this.transition, data: this.data };
  }
}

/** Thrown when an adapter class is missing `@ServiceAdapter`, `callService`, or declares a handler twice. */
export class AdapterDefinitionError extends PsiError {
  constructor(adapter: string, problem: string) {
    super(PsiErrorCode.AdapterDefinitionInvalid, `Adapter ${adapter} is not valid: ${problem}`);
  }
}

/** Thrown by `invoke` when no registered adapter serves the step the engine reached. */
export class AdapterNotFoundError extends PsiError {
  constructor(readonly step: string) {
    super(
      PsiErrorCode.AdapterNotFound,
      `No service adapter is registered for step "${step}"; register one with coordinator options "adapters".`,
    );
  }
}

/** Thrown (and the invocation failed) when process variables do not pass the adapter's input validation. */
export class AdapterInputError extends PsiError {
  constructor(
    readonly adapter: string,
    readonly violations: FieldViolation[],
  ) {
    super(
      PsiErrorCode.AdapterInputInvalid,
      `Input of adapter ${adapter} is invalid: ${formatViolations(violations)}`,
    );
  }
  protected override details(): unknown {
    return { adapter: this.adapter, violations: this.violations };
  }
}

/** Raised when an answer's payload fails the response DTO; the message is dead-lettered as `invalid`. */
export class ResponseValidationError extends PsiError {
  constructor(
    readonly event: string,
    readonly violations: FieldViolation[],
  ) {
    super(
      PsiErrorCode.ResponseInvalid,
      `Response "${event}" is invalid: ${formatViolations(violations)}`,
    );
  }
  protected override details(): unknown {
    return { event: this.event, violations: this.violations };
  }
}

/** Thrown by a registry that does not know a service; names every registry that was asked. */
export class UnknownServiceError extends PsiError {
  constructor(
    readonly service: string,
    readonly registriesAsked: string[],
  ) {
    super(
      PsiErrorCode.ServiceUnknown,
      `Service "${service}" is not known to registr${registriesAsked.length === 1 ? 'y' : 'ies'} ${registriesAsked.join(', ')}; add it to one of them.`,
    );
  }
}

/** Thrown when a registry names a transport that was not given to the coordinator. */
export class UnknownTransportError extends PsiError {
  constructor(
    readonly transport: string,
    readonly known: string[],
  ) {
    super(
      PsiErrorCode.TransportUnknown,
      `Transport "${transport}" is not configured (configured: ${known.join(', ') || 'none'}).`,
    );
  }
}

/** A failure worth retrying: connection refused, timeout, 5xx. Transports throw it from `send`. */
export class TransportTechnicalError extends PsiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(PsiErrorCode.TransportTechnical, message, options);
  }
}

/** The service said "no" (4xx, a rejection): not retried, goes back to the process. */
export class TransportBusinessError extends PsiError {
  constructor(
    message: string,
    readonly status?: number,
    readonly body?: unknown,
  ) {
    super(PsiErrorCode.TransportBusiness, message);
  }
  protected override details(): unknown {
    return { status: this.status, body: this.body };
  }
}

/** Thrown by a PEAL plugin when a signal names a wait state the instance is not in. */
export class EngineSignalRejectedError extends PsiError {
  constructor(
    readonly instanceId: string,
    readonly waitState: string,
    readonly currentStates: readonly string[],
  ) {
    super(
      PsiErrorCode.EngineSignalRejected,
      `Instance ${instanceId} is not at wait state "${waitState}" (it is at: ${currentStates.join(', ') || 'nothing, it ended'}).`,
    );
  }
  protected override details(): unknown {
    return {
      instanceId: this.instanceId,
      waitState: this.waitState,
      currentStates: this.currentStates,
    };
  }
}

/** Thrown by a PEAL plugin for an instance id it does not know. */
export class InstanceNotFoundError extends PsiError {
  constructor(readonly instanceId: string) {
    super(PsiErrorCode.InstanceNotFound, `Process instance ${instanceId} does not exist.`);
  }
}

/** Thrown by `thaw` and queries for an invocation id the store does not hold. */
export class InvocationNotFoundError extends PsiError {
  constructor(readonly invocationId: string) {
    super(PsiErrorCode.InvocationNotFound, `Invocation ${invocationId} does not exist.`);
  }
}

/**
 * `invoke` of a step entry that was undone before it was ever durable: the engine's move into the
 * step was made by a run whose invocation another node had taken over (this node's lease had
 * lapsed), so it was discarded with that run's record; that node's run moves the instance.
 */
export class StepEntryUndoneError extends PsiError {
  constructor(
    readonly instanceId: string,
    readonly step: string,
  ) {
    super(
      PsiErrorCode.StepEntryUndone,
      `Instance ${instanceId} never durably entered step "${step}": the move into it was undone (another node runs the step before it). Nothing was invoked.`,
    );
  }
}

/** Thrown by `thaw` for an invocation that is not frozen. */
export class InvocationNotFrozenError extends PsiError {
  constructor(
    readonly invocationId: string,
    readonly status: string,
  ) {
    super(
      PsiErrorCode.InvocationNotFrozen,
      `Invocation ${invocationId} is ${status}, not frozen; only frozen invocations can be thawed.`,
    );
  }
}

/** Thrown by dead-letter replay/discard for an id the store does not hold. */
export class DeadLetterNotFoundError extends PsiError {
  constructor(readonly deadLetterId: string) {
    super(PsiErrorCode.DeadLetterNotFound, `Dead letter ${deadLetterId} does not exist.`);
  }
}

/** Thrown by `ProcessGuard.stop` when the caller's token does not own the guard. */
export class GuardNotOwnerError extends PsiError {
  constructor(readonly guardId: string) {
    super(
      PsiErrorCode.GuardNotOwner,
      `Process guard "${guardId}" is not held with this owner token; only the owner can stop it.`,
    );
  }
}

/** Thrown by calls made after `coordinator.close()`. */
export class CoordinatorClosedError extends PsiError {
  constructor() {
    super(PsiErrorCode.CoordinatorClosed, 'The coordinator is closed; create a new one.');
  }
}

/** Thrown when store options are inconsistent (unknown type, missing URL). */
export class StoreConfigError extends PsiError {
  constructor(problem: string) {
    super(PsiErrorCode.StoreConfigInvalid, `Store configuration is invalid: ${problem}`);
  }
}

/** Thrown by `receive` for a message that is not a message at all (no event name, unserialisable payload). */
export class InboundMessageError extends PsiError {
  constructor(problem: string) {
    super(PsiErrorCode.MessageInvalid, `Inbound message is invalid: ${problem}`);
  }
}

/** Thrown by `Coordinator.create` for unusable options (a limit, cap or retention that is not a positive number). */
export class CoordinatorOptionsError extends PsiError {
  constructor(problem: string) {
    super(PsiErrorCode.CoordinatorOptionsInvalid, `Coordinator options are invalid: ${problem}`);
  }
}

/**
 * Thrown by `receive` for a message over one of the coordinator's `limits` (an id, key or event
 * name too long, a payload nested too deep), before anything is stored, alike on SQLite and
 * PostgreSQL. The message names the field and the limit, never the value. The HTTP inbound
 * server answers 400; the Kafka transport keeps the record as a `rejected` dead letter.
 */
export class MessageLimitError extends PsiError {
  constructor(
    readonly field: string,
    readonly limit: string,
    readonly max: number,
  ) {
    super(
      PsiErrorCode.MessageLimitExceeded,
      `Inbound message exceeds a limit: "${field}" is over ${limit} (${max}); send less, or raise the limit (coordinator option "limits").`,
    );
  }
  protected override details(): unknown {
    return { field: this.field, limit: this.limit, max: this.max };
  }
}

/**
 * Thrown by `receive` for an answer bound to one instance and wait state (a callback token's
 * answer, `InboundMessage.boundTo`) whose correlation key and event lead to no expectation there.
 * Nothing is stored; the HTTP inbound server answers 403.
 */
export class CallbackBindingError extends PsiError {
  constructor() {
    super(
      PsiErrorCode.CallbackBindingViolated,
      'The answer is bound to an instance and wait state that expect no such event under its correlation key; it was not delivered.',
    );
  }
}

/**
 * True for errors that say the message itself is unacceptable (malformed, over a limit, bound
 * elsewhere): sending it again cannot succeed. Transports that cannot answer the sender (Kafka)
 * keep such a message as a `rejected` dead letter instead of retrying it.
 */
export function isMessageRejection(error: unknown): error is PsiError {
  return (
    PsiError.is(error) &&
    (error.code === PsiErrorCode.MessageInvalid ||
      error.code === PsiErrorCode.MessageLimitExceeded ||
      error.code === PsiErrorCode.CallbackBindingViolated)
  );
}

/**
 * Thrown by the operations API (`PsiOperations`) for a request it cannot run: an unknown action
 * or list, a filter that list does not have, a malformed value or cursor. `field` names the part.
 */
export class OperationInvalidError extends PsiError {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(PsiErrorCode.OperationInvalid, `Operation request is invalid: ${field}: ${problem}`);
  }
}

/** Thrown for an operator action without a reason: every action is audited with why it was done. */
export class OperationReasonRequiredError extends PsiError {
  constructor(action: string) {
    super(
      PsiErrorCode.OperationReasonRequired,
      `Action "${action}" needs a reason (CLI --reason, console form field, API by.reason); it is kept in the audit trail.`,
    );
  }
}

/** Thrown for a bulk action by filter submitted without `confirmed: true` (dry-run it first). */
export class OperationNotConfirmedError extends PsiError {
  constructor(
    action: string,
    readonly count: number,
  ) {
    super(
      PsiErrorCode.OperationNotConfirmed,
      `Bulk "${action}" of ${count} record(s) by filter needs confirmation: preview it (dry run), then submit with confirmed: true (CLI --yes).`,
    );
  }
}

/** Thrown when an operation id is not in the store. */
export class OperationNotFoundError extends PsiError {
  constructor(readonly operationId: string) {
    super(PsiErrorCode.OperationNotFound, `Operation ${operationId} does not exist.`);
  }
}

/** Thrown by actions on a parked answer that is no longer parked (delivered, expired) or never was. */
export class ParkedAnswerNotFoundError extends PsiError {
  constructor(readonly parkedId: string) {
    super(
      PsiErrorCode.ParkedAnswerNotFound,
      `Parked answer ${parkedId} is not parked (delivered, expired or never there).`,
    );
  }
}

/** Thrown by an operator's guard release for a guard id nobody holds. */
export class GuardNotHeldError extends PsiError {
  constructor(readonly guardId: string) {
    super(PsiErrorCode.GuardNotHeld, `Process guard "${guardId}" is not held.`);
  }
}

function formatViolations(violations: FieldViolation[]): string {
  return violations.map((v) => `${v.path}: ${v.messages.join('; ')}`).join(' | ');
}
