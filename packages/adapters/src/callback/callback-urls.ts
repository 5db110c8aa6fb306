import {
  TransportTechnicalError,
  type DispatchResult,
  type InboundSink,
  type OutboundRequest,
  type ServiceCoordinates,
  type Transport,
} from '@psi/core';
import { CallbackTokenConfigError } from '../errors';
import type { CallbackTokenService } from './callback-token.service';

/** What the callback URL of one request allows its holder. */
export interface CallbackUrlGrant {
  /** The wait state the answer is for (the handler's `@OnResponse({ waitState })`). */
  waitState: string;
  /** The answer events the holder may send. */
  events: readonly string[];
  /** Lifetime of the token, from the moment the request is sent. */
  ttlMs: number;
}

export interface CallbackUrlOptions {
  tokens: CallbackTokenService;
  /**
   * Base URL of the HttpInboundServer that takes the callbacks, e.g. `https://psi.example.com`;
   * a function when it is known only once the server listens (`() => inbound.url`).
   */
  baseUrl: string | (() => string | undefined);
}

const PLACEHOLDER_PREFIX = 'psi-callback-url:';

interface EncodedGrant {
  w: string;
  e: string[];
  t: number;
}

/**
 * A placeholder for the callback URL of the request it is sent in: put it in a request payload
 * (`callService`), and a transport wrapped with {@link withCallbackUrls} replaces it, at send
 * time, with `<baseUrl>/callbacks/<token>`: a token for this request's instance, correlation key
 * (one visit of `waitState`) and `events`. PSI's store (outbox, audit) keeps only the
 * placeholder, never the token.
 */
export function callbackUrlPlaceholder(grant: CallbackUrlGrant): string {
  if (!grant.waitState || grant.events.length === 0 || !(grant.ttlMs > 0)) {
    throw new CallbackTokenConfigError(
      'a callback URL needs a wait state, at least one event and a positive ttlMs.',
    );
  }
  const encoded: EncodedGrant = { w: grant.waitState, e: [...grant.events], t: grant.ttlMs };
  return PLACEHOLDER_PREFIX + Buffer.from(JSON.stringify(encoded)).toString('base64url');
}

/**
 * Wraps a transport so that {@link callbackUrlPlaceholder}s in request payloads become callback
 * URLs with a freshly signed token when the request is sent (again after a crash: a new token,
 * the old one stays valid until it expires). The token goes to the service and nowhere else.
 */
export function withCallbackUrls(transport: Transport, options: CallbackUrlOptions): Transport {
  return new CallbackUrlTransport(transport, options);
}

class CallbackUrlTransport implements Transport {
  readonly name: string;

  constructor(
    private readonly inner: Transport,
    private readonly options: CallbackUrlOptions,
  ) {
    this.name = inner.name;
  }

  start(sink: InboundSink): Promise<void> {
    return this.inner.start(sink);
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }

  async send(request: OutboundRequest, coordinates: ServiceCoordinates): Promise<DispatchResult> {
    const payload = this.fill(request.payload, request);
    return this.inner.send(
      payload === request.payload ? request : { ...request, payload },
      coordinates,
    );
  }

  /** A copy of `value` with its placeholders replaced; `value` itself when it has none. */
  private fill(value: unknown, request: OutboundRequest): unknown {
    if (typeof value === 'string') {
      return value.startsWith(PLACEHOLDER_PREFIX) ? this.url(value, request) : value;
    }
    if (typeof value !== 'object' || value === null) return value;
    let changed = false;
    const entries = Object.entries(value).map(([key, child]) => {
      const filled = this.fill(child, request);
      if (filled !== child) changed = true;
      return [key, filled] as const;
    });
    if (!changed) return value;
    if (Array.isArray(value)) return entries.map(([, child]) => child);
    return Object.fromEntries(entries);
  }

  private url(placeholder: string, request: OutboundRequest): string {
    const grant = decodeGrant(placeholder);
    const base =
      typeof this.options.baseUrl === 'function' ? this.options.baseUrl() : this.options.baseUrl;
    if (!base) {
      throw new TransportTechnicalError(
        'No callback base URL yet (the inbound server is not listening); the request is retried.',
      );
    }
    if (!request.instanceId) {
      throw new TransportTechnicalError(
        `Request ${request.requestId} names no instance; a callback URL cannot be bound to it.`,
      );
    }
    const token = this.options.tokens.issue({
      instanceId: request.instanceId,
      correlationKey: request.correlationKey,
      waitState: grant.w,
      events: grant.e,
      ttlMs: grant.t,
    });
    return `${base.replace(/\/+$/, '')}/callbacks/${token}`;
  }
}

function decodeGrant(placeholder: string): EncodedGrant {
  try {
    const grant = JSON.parse(
      Buffer.from(placeholder.slice(PLACEHOLDER_PREFIX.length), 'base64url').toString('utf8'),
    ) as Partial<EncodedGrant>;
    if (
      typeof grant.w === 'string' &&
      Array.isArray(grant.e) &&
      grant.e.every((e) => typeof e === 'string') &&
      typeof grant.t === 'number'
    ) {
      return grant as EncodedGrant;
    }
  } catch {
    // reported below
  }
  throw new CallbackTokenConfigError(
    'a callback URL placeholder is corrupt; make it with callbackUrlPlaceholder().',
  );
}
