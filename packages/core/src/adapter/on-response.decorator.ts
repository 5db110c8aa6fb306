import { HANDLERS_KEY, appendMetadata, type Constructor } from './metadata-keys';

/** Declares how an answer event is expected, correlated and handled. */
export interface OnResponseOptions {
  /** The wait state at which the instance must be for the answer to be delivered. */
  waitState: string;
  /** class-validator DTO the payload must satisfy; invalid payloads are dead-lettered `invalid`. */
  payload?: Constructor;
  /**
   * Business-key correlation: payload field → process variable, read at invoke time. Answers that
   * carry no correlation key are matched by these fields. Several fields form one key.
   */
  businessKey?: Record<string, string>;
  /** Also accept the answer by the generated correlation key. @default true */
  correlationKey?: boolean;
  /** Deadline after invoke; when it passes first, the timeout wins the race. */
  timeoutMs?: number;
  /** Transition taken on timeout; without it the timeout raises the fault `PSI_TIMEOUT`. */
  timeoutTransition?: string;
  /**
   * One-of-many group: the first expectation of the group that is delivered or times out closes
   * the others (their later answers are dead-lettered `superseded`).
   */
  group?: string;
}

export interface ResponseHandlerMetadata extends OnResponseOptions {
  event: string;
  method: string;
}

/**
 * Marks a method as the handler of answer `event`. It receives the validated payload and the
 * delivery's {@link ResponseContext}, may set `@Output` properties, and returns the transition
 * to take (or nothing for the default one). A `BusinessError` it throws goes to the process: as
 * the error's transition when it names one, else as a fault with its code. Handlers run at
 * least once (see ResponseContext): side effects beyond the outputs key on `deliveryId`.
 */
export function OnResponse(event: string, options: OnResponseOptions): MethodDecorator {
  return (target, method) => {
    appendMetadata<ResponseHandlerMetadata>(HANDLERS_KEY, target.constructor, {
      ...options,
      event,
      method: String(method),
    });
  };
}
