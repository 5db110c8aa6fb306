/** How technical failures of a service are retried. */
export interface RetryPolicy {
  /** Attempts in all, the first included. @default 5 */
  maxAttempts: number;
  /** Delay before the second attempt. @default 100 */
  initialDelayMs: number;
  /** Growth factor per attempt. @default 2 */
  multiplier: number;
  /** Upper bound of one delay. @default 30000 */
  maxDelayMs: number;
}

/** Where and how to reach a service; what a registry resolves a service name to. */
export interface ServiceCoordinates {
  service: string;
  /** Transport name, e.g. `in-process`, `http`, `kafka`. */
  transport: string;
  /** URL, topic or in-process name, depending on the transport. */
  address: string;
  /** Where asynchronous answers go (reply topic, callback URL), if the transport needs one. */
  replyAddress?: string;
  /** Per-attempt timeout of a dispatch. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** How long an early answer for this service is parked before it is dead-lettered. */
  parkingTtlMs?: number;
  version?: string;
  environment?: string;
  tenant?: string;
}

/** Narrows a lookup when a registry holds several variants of one service. */
export interface ResolveHints {
  version?: string;
  environment?: string;
  tenant?: string;
}

/**
 * Registry SPI: resolves a service name to coordinates. Throws {@link UnknownServiceError}
 * (code `PSI_SERVICE_UNKNOWN`) naming the service and the registries asked.
 */
export interface ServiceRegistry {
  readonly name: string;
  resolve(service: string, hints?: ResolveHints): Promise<ServiceCoordinates>;
}

/** DI token for {@link ServiceRegistry}. */
export const ServiceRegistry = Symbol.for('@psi/core/ServiceRegistry');
