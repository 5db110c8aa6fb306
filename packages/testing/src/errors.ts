import { PsiError } from '@psi/core';

/** Stable error codes of @psi/testing. Codes never change meaning; new ones are added. */
export const TestingErrorCode = {
  OptionsInvalid: 'PSI_TESTING_OPTIONS_INVALID',
  WaitTimedOut: 'PSI_TESTING_WAIT_TIMED_OUT',
  ClockBusy: 'PSI_TESTING_CLOCK_BUSY',
  ClockBackwards: 'PSI_TESTING_CLOCK_BACKWARDS',
  NoCall: 'PSI_TESTING_NO_CALL',
  NoDeadline: 'PSI_TESTING_NO_DEADLINE',
  AlreadyWaiting: 'PSI_TESTING_ALREADY_WAITING',
  Disposed: 'PSI_TESTING_DISPOSED',
  SettleTimedOut: 'PSI_TESTING_SETTLE_TIMED_OUT',
} as const;
export type TestingErrorCode = (typeof TestingErrorCode)[keyof typeof TestingErrorCode];

/** Thrown by `PsiTestEnvironment.create` for options that cannot work; the message names which. */
export class TestOptionsError extends PsiError {
  constructor(message: string) {
    super(TestingErrorCode.OptionsInvalid, message);
  }
}

/**
 * Thrown by `waitUntil`, `whenWaitingAt` and `whenEnded` when what they wait for did not happen
 * within their real-time patience, although PSI had settled: the process went elsewhere, or the
 * test must move the clock (or answer) first. The message says what was awaited.
 */
export class WaitTimedOutError extends PsiError {
  constructor(
    readonly what: string,
    readonly patienceMs: number,
  ) {
    super(
      TestingErrorCode.WaitTimedOut,
      `Waited ${patienceMs} ms (real time) in vain until ${what}; PSI had nothing left to do. Move the clock or answer first.`,
    );
  }
  protected override details(): unknown {
    return { what: this.what, patienceMs: this.patienceMs };
  }
}

/**
 * Thrown by the test clock when it is moved while it is still moving (an `advance` not awaited
 * before the next), or moved backwards: time in a test only goes forward, one step at a time.
 */
export class TestClockError extends PsiError {
  constructor(
    code: typeof TestingErrorCode.ClockBusy | typeof TestingErrorCode.ClockBackwards,
    message: string,
  ) {
    super(code, message);
  }
}

/** Thrown when a scripted service is asked for a call it did not receive (yet). */
export class NoServiceCallError extends PsiError {
  constructor(service: string, operation: string | undefined) {
    super(
      TestingErrorCode.NoCall,
      `Service "${service}" received no call${operation ? ` of "${operation}"` : ''} yet; wait until the instance invoked it (whenWaitingAt).`,
    );
  }
}

/** Thrown by `answerAtDeadline` when the instance has no open expectation of that event with a deadline. */
export class NoDeadlineError extends PsiError {
  constructor(instanceId: string, event: string) {
    super(
      TestingErrorCode.NoDeadline,
      `Instance ${instanceId} has no open expectation of "${event}" with a deadline; give the adapter's @OnResponse a timeoutMs.`,
    );
  }
}

/** Thrown by `answerBeforeWaiting` when the instance already waits at that wait state. */
export class AlreadyWaitingError extends PsiError {
  constructor(instanceId: string, waitState: string) {
    super(
      TestingErrorCode.AlreadyWaiting,
      `Instance ${instanceId} already waits at "${waitState}": this answer would not be early. Answer sooner (before the step that leads there).`,
    );
  }
}

/** Thrown by every method of an environment after `dispose()`. */
export class EnvironmentDisposedError extends PsiError {
  constructor() {
    super(TestingErrorCode.Disposed, 'The test environment is disposed; create a new one.');
  }
}

/**
 * Thrown by whatever lets PSI settle (each helper, `clock.advance`, `waitUntil`) when PSI had
 * work running and no engine or audit event happened for `stuckAfterMs` (15 s) of real time: usually a service call that never returns
 * (a scripted reply that never resolves) or a handler that hangs. Without it the test would hang
 * until the test runner's own timeout, with no word of why.
 */
export class SettleTimedOutError extends PsiError {
  constructor(readonly patienceMs: number) {
    super(
      TestingErrorCode.SettleTimedOut,
      `PSI had work running and nothing happened for ${patienceMs} ms (real time): a service call or handler that never returns? Let it return (or raise stuckAfterMs if it is only slow).`,
    );
  }
  protected override details(): unknown {
    return { patienceMs: this.patienceMs };
  }
}
