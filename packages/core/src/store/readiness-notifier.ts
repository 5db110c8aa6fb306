import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';

/** Receives the ids other nodes published. */
export type ReadinessListener = (instanceId: string) => void;

/**
 * Called when a notifier listens again after losing its connection: notices published in the
 * meantime are lost, so the subscriber should look in the store for what it may have missed.
 */
export type ResyncListener = () => void;

/**
 * "Instance X may have work now" between the nodes sharing a store: a node that parks an answer
 * for an instance its engine cannot deliver to (or claims a timeout it cannot signal) publishes
 * the instance id, and every other node checks whether its engine has the instance at a wait state
 * and releases what is waiting. Best effort and prompt; the store stays the truth (a node that
 * missed a notification finds the parked answer on its next readiness event or restore).
 */
export interface ReadinessNotifier {
  /** Tells every other subscriber (every other node) about `instanceId`; `origin` is the publisher. */
  publish(origin: string, instanceId: string): Promise<void>;
  /**
   * Calls `listener` for ids published by anyone but `origin`, and `onResync` whenever notices
   * may have been missed; returns the unsubscribe function.
   */
  subscribe(origin: string, listener: ReadinessListener, onResync?: ResyncListener): () => void;
  /** Stops listening (the store closes it). */
  close(): Promise<void>;
}

interface Subscriber {
  origin: string;
  listener: ReadinessListener;
  onResync?: ResyncListener;
}

function dispatch(subscribers: Iterable<Subscriber>, origin: string, instanceId: string): void {
  for (const subscriber of subscribers) {
    if (subscriber.origin === origin) continue;
    try {
      subscriber.listener(instanceId);
    } catch {
      // A listener's failure is its own (the coordinator tracks and reports its work).
    }
  }
}

/**
 * Within one process: every store opened on the same SQLite file shares one hub. Processes do not
 * notify each other on SQLite (one node per file is the SQLite deployment).
 */
export class InProcessReadinessNotifier implements ReadinessNotifier {
  private static readonly hubs = new Map<string, Set<Subscriber>>();
  private readonly own = new Set<Subscriber>();

  constructor(private readonly key: string) {}

  async publish(origin: string, instanceId: string): Promise<void> {
    const hub = InProcessReadinessNotifier.hubs.get(this.key);
    if (!hub) return;
    await Promise.resolve(); // never inside the publisher's call stack
    dispatch(hub, origin, instanceId);
  }

  subscribe(origin: string, listener: ReadinessListener): () => void {
    const subscriber = { origin, listener };
    let hub = InProcessReadinessNotifier.hubs.get(this.key);
    if (!hub) InProcessReadinessNotifier.hubs.set(this.key, (hub = new Set()));
    hub.add(subscriber);
    this.own.add(subscriber);
    return () => this.remove(subscriber);
  }

  async close(): Promise<void> {
    for (const subscriber of [...this.own]) this.remove(subscriber);
  }

  private remove(subscriber: Subscriber): void {
    this.own.delete(subscriber);
    const hub = InProcessReadinessNotifier.hubs.get(this.key);
    hub?.delete(subscriber);
    if (hub?.size === 0) InProcessReadinessNotifier.hubs.delete(this.key);
  }
}

/** The part of a pg client the notifier uses. */
interface ListeningClient {
  query(sql: string): Promise<unknown>;
  on(event: 'notification', listener: NotificationHandler): void;
  on(event: 'error', listener: (error: Error) => void): void;
  on(event: 'end', listener: () => void): void;
  off(event: 'notification', listener: NotificationHandler): void;
  off(event: 'error', listener: (error: Error) => void): void;
  off(event: 'end', listener: () => void): void;
}
type NotificationHandler = (message: { channel: string; payload?: string }) => void;
interface Listening {
  client: ListeningClient;
  release: Release;
  onNotification: NotificationHandler;
  onError: (error: Error) => void;
  onEnd: () => void;
}
type Release = (error?: Error | boolean) => void;
interface PoolDriver {
  obtainMasterConnection(): Promise<[ListeningClient, Release]>;
}

const RECONNECT_MS = { first: 100, max: 5_000 };

/**
 * PostgreSQL LISTEN/NOTIFY on a channel per schema (`psi_ready_<schema>`; notifications are
 * database-wide). One pooled connection listens while anyone subscribes and is reconnected with
 * backoff when it drops; publishing is `pg_notify` on any pooled connection. Delivery to
 * listeners takes a round trip through the server: milliseconds.
 */
export class PostgresReadinessNotifier implements ReadinessNotifier {
  private readonly subscribers = new Set<Subscriber>();
  private readonly channel: string;
  private connection: Listening | undefined;
  private connecting: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RECONNECT_MS.first;
  private closed = false;
  // Set when listening stopped against our will: notices sent meanwhile were lost.
  private missedNotices = false;

  constructor(
    private readonly dataSource: DataSource,
    schema: string,
    private readonly onError: (error: unknown) => void = () => undefined,
    /** Another kind of notice on its own channel (`psi_ops`: operator actions to run). */
    channelPrefix = 'psi_ready',
  ) {
    this.channel = channelFor(schema, channelPrefix);
  }

  async publish(origin: string, instanceId: string): Promise<void> {
    if (this.closed || !this.dataSource.isInitialized) return;
    await this.dataSource.query('SELECT pg_notify($1, $2)', [
      this.channel,
      JSON.stringify({ o: origin, i: instanceId }),
    ]);
  }

  subscribe(origin: string, listener: ReadinessListener, onResync?: ResyncListener): () => void {
    const subscriber = { origin, listener, onResync };
    this.subscribers.add(subscriber);
    void this.listen();
    return () => {
      this.subscribers.delete(subscriber);
      if (this.subscribers.size === 0) this.unlisten();
    };
  }

  /** Resolves once the listening connection is up (subscribe connects in the background). */
  async ready(): Promise<void> {
    await this.listen();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscribers.clear();
    await this.connecting?.catch(() => undefined);
    this.unlisten();
  }

  private listen(): Promise<void> {
    if (this.connection || this.closed || this.subscribers.size === 0) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<void> {
    let listening: Listening | undefined;
    try {
      const [client, release] = await (
        this.dataSource.driver as unknown as PoolDriver
      ).obtainMasterConnection();
      const self: Listening = {
        client,
        release,
        onNotification: (message) => this.received(message),
        onError: (error) => this.dropped(self, error),
        onEnd: () => this.dropped(self),
      };
      listening = self;
      client.on('error', self.onError);
      client.on('end', self.onEnd);
      client.on('notification', self.onNotification);
      await client.query(`LISTEN "${this.channel}"`);
      this.connection = self;
      this.retryMs = RECONNECT_MS.first;
      if (this.closed || this.subscribers.size === 0) this.unlisten();
      else if (this.missedNotices) this.resync();
    } catch (error) {
      if (listening) detach(listening, error instanceof Error ? error : true);
      this.missedNotices = true;
      this.onError(error);
      this.scheduleReconnect();
    }
  }

  private received(message: { channel: string; payload?: string }): void {
    if (message.channel !== this.channel || !message.payload) return;
    let parsed: { o?: unknown; i?: unknown };
    try {
      parsed = JSON.parse(message.payload) as { o?: unknown; i?: unknown };
    } catch {
      return;
    }
    if (typeof parsed.o !== 'string' || typeof parsed.i !== 'string') return;
    dispatch([...this.subscribers], parsed.o, parsed.i);
  }

  private dropped(listening: Listening, error?: Error): void {
    if (this.connection !== listening) return;
    this.connection = undefined;
    this.missedNotices = true;
    detach(listening, error ?? true); // the pool discards the broken client
    if (error) this.onError(error);
    this.scheduleReconnect();
  }

  private resync(): void {
    this.missedNotices = false;
    for (const subscriber of [...this.subscribers]) {
      try {
        subscriber.onResync?.();
      } catch {
        // The subscriber's failure is its own, as with notices.
      }
    }
  }

  private scheduleReconnect(): void {
    if (this.closed || this.subscribers.size === 0 || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.listen();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RECONNECT_MS.max);
  }

  private unlisten(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const listening = this.connection;
    this.connection = undefined;
    if (!listening) return;
    listening.client.off('notification', listening.onNotification);
    // UNLISTEN before the connection goes back to the pool; on failure the pool drops it.
    listening.client.query(`UNLISTEN "${this.channel}"`).then(
      () => detach(listening),
      (error: Error) => detach(listening, error),
    );
  }
}

/** Removes the notifier's handlers and hands the connection back (destroyed when `error`). */
function detach(listening: Listening, error?: Error | boolean): void {
  listening.client.off('notification', listening.onNotification);
  listening.client.off('error', listening.onError);
  listening.client.off('end', listening.onEnd);
  listening.release(error);
}

/** Channel names are identifiers (at most 63 bytes): long schema names are hashed. */
export function channelFor(schema: string, prefix = 'psi_ready'): string {
  const name = `${prefix}_${schema}`;
  if (name.length <= 63) return name;
  return `${prefix}_${createHash('sha256').update(schema).digest('hex').slice(0, 40)}`;
}
