import type { TransactionRunner, UnitOfWork } from './transaction-runner';

// SQLSTATE class 08 (connection exception), server shutting down / restarting, and the errors
// node-postgres and the OS raise when a connection cannot be made or breaks.
const CONNECTION_CODES = new Set([
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '57P01',
  '57P02',
  '57P03',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
// TypeORM releases a query runner whose connection failed; its next use then says so.
const CONNECTION_MESSAGES =
  /Connection terminated|connection error|terminating connection|timeout exceeded when trying to connect|Client was closed|Connection ended|Query runner already released|query runner was already released/i;

/** True for an error that says the database connection was lost or could not be made. */
export function isConnectionError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 4; depth++) {
    if (typeof e !== 'object') return false;
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true;
    // TypeORM's QueryFailedError keeps the driver's error; Error.cause elsewhere.
    e =
      (e as { driverError?: unknown; cause?: unknown }).driverError ??
      (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Retries a unit of work whose connection was lost (or could not be had) before it reached its
 * commit: the transaction died with the connection, so nothing of it is in the database and the
 * unit runs again on a fresh connection, with exponential backoff, for up to `budgetMs`. A loss
 * during COMMIT is not retried (the outcome is unknown: the error reaches the caller), nor is any
 * other error.
 */
export class ConnectionRetryRunner implements TransactionRunner {
  constructor(
    private readonly inner: TransactionRunner,
    private readonly budgetMs: number,
    private readonly onRetry: (error: unknown, attempt: number) => void = () => undefined,
  ) {}

  async run<T>(work: UnitOfWork<T>): Promise<T> {
    const giveUpAt = Date.now() + this.budgetMs;
    for (let attempt = 1; ; attempt++) {
      let workDone = false;
      try {
        return await this.inner.run(async (tx) => {
          const value = await work(tx);
          workDone = true;
          return value;
        });
      } catch (error) {
        const delayMs = Math.min(2_000, 50 * 2 ** (attempt - 1));
        if (workDone || !isConnectionError(error) || Date.now() + delayMs > giveUpAt) throw error;
        this.onRetry(error, attempt);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }
}
