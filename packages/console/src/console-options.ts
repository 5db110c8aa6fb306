import type { PsiOperations } from '@psi/core';
import type { ConsoleAuthorize } from './auth';
import { ConsoleConfigError, ConsoleUnprotectedError } from './errors';

/** How the console is mounted and who may use it. */
export interface PsiConsoleOptions {
  /** The operations API it shows and acts through (`coordinator.operations`). */
  operations: PsiOperations;
  /**
   * Resolves each request to a user (name, role `reader` or `operator`), or null when nobody is
   * logged in. Your app's sessions, tokens or proxy headers: the console has no logins of its own.
   * Required unless `localOnly` is true.
   */
  authorize?: ConsoleAuthorize;
  /**
   * Serve loopback clients only (127.0.0.0/8, ::1), each as operator `local`, without
   * authentication; every other client gets 403. Must be said explicitly. @default false
   */
  localOnly?: boolean;
  /** Show everything, act on nothing (no action forms; every POST refused). @default false */
  readOnly?: boolean;
  /**
   * Signs CSRF tokens. Give the same secret to every instance of your app behind one address.
   * @default 32 random bytes per process
   */
  csrfSecret?: string | Buffer;
  /** Where a browser without a user is sent (`?next=` the page it wanted); else a 401 page. */
  loginUrl?: string;
  /** @default 'PSI console' */
  title?: string;
}

export interface CompiledConsoleOptions extends Omit<
  PsiConsoleOptions,
  'title' | 'readOnly' | 'localOnly'
> {
  title: string;
  readOnly: boolean;
  localOnly: boolean;
}

export function compileConsoleOptions(
  options: PsiConsoleOptions | undefined,
): CompiledConsoleOptions {
  if (!options || typeof options.operations?.list !== 'function')
    throw new ConsoleConfigError(
      '`operations` must be a PsiOperations (e.g. coordinator.operations)',
    );
  if (options.authorize !== undefined && typeof options.authorize !== 'function')
    throw new ConsoleConfigError('`authorize` must be a function');
  if (!options.authorize && options.localOnly !== true) throw new ConsoleUnprotectedError();
  return {
    ...options,
    title: options.title ?? 'PSI console',
    readOnly: options.readOnly === true,
    localOnly: options.localOnly === true,
  };
}
