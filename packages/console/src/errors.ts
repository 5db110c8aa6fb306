import { PsiError } from '@psi/core';

/** Stable error codes of @psi/console. */
export const ConsoleErrorCode = {
  Unprotected: 'PSI_CONSOLE_UNPROTECTED',
  ConfigInvalid: 'PSI_CONSOLE_CONFIG_INVALID',
  Unauthenticated: 'PSI_CONSOLE_UNAUTHENTICATED',
  Forbidden: 'PSI_CONSOLE_FORBIDDEN',
  ReadOnly: 'PSI_CONSOLE_READ_ONLY',
  Csrf: 'PSI_CONSOLE_CSRF',
  NotLocal: 'PSI_CONSOLE_NOT_LOCAL',
} as const;

/**
 * Thrown when the console is registered without an `authorize` hook and without `localOnly:
 * true`: an operator console must never be open to anyone by default.
 */
export class ConsoleUnprotectedError extends PsiError {
  constructor() {
    super(
      ConsoleErrorCode.Unprotected,
      'psiConsole needs an `authorize` hook (resolving each request to a user with role reader or operator), ' +
        'or `localOnly: true` to serve loopback clients only, without authentication.',
    );
  }
}

/** Thrown at registration for options that cannot work (no operations API, a bad prefix). */
export class ConsoleConfigError extends PsiError {
  constructor(problem: string) {
    super(ConsoleErrorCode.ConfigInvalid, `psiConsole options are invalid: ${problem}`);
  }
}

/** A refused request: its HTTP status and stable code (sent as JSON or an error page). */
export class ConsoleRequestError extends PsiError {
  constructor(
    readonly statusCode: 401 | 403 | 404 | 400,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}
