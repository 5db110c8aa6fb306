import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';

/**
 * Which nodes sharing a store are alive, so that a dead node's work is taken over in seconds
 * instead of once its leases lapse. A node joins under its `nodeId` while it runs.
 */
export interface NodeLiveness {
  /** Whether `deadAmong` can tell anything (false on SQLite). */
  readonly seesOtherNodes: boolean;
  /**
   * Marks `nodeId` live while it stays joined; resolves with whether the mark is held now. On
   * PostgreSQL it is not while another live session holds the same id (a twin, or the previous
   * process whose session the server has not ended yet); `join` keeps trying in the background.
   */
  join(nodeId: string): Promise<boolean>;
  /** Whether this store holds `nodeId`'s mark now. */
  holds(nodeId: string): boolean;
  /** Gives the mark up (a clean stop). */
  leave(nodeId: string): Promise<void>;
  /**
   * Of `owners`, those no live node holds the mark of: their node died (its database session
   * ended). `undefined` when the store cannot tell (SQLite: processes do not see each other).
   */
  deadAmong(owners: readonly string[]): Promise<Set<string> | undefined>;
  /** Tries again to take the marks of joined nodes that another session held. */
  retry(): Promise<void>;
  close(): Promise<void>;
}

/**
 * SQLite: processes sharing a file do not see each other, so other nodes' liveness is unknown
 * (their leases decide). A node restarted under its own id knows its earlier process is gone.
 */
export class LocalNodeLiveness implements NodeLiveness {
  readonly seesOtherNodes = false;
  private readonly joined = new Set<string>();

  async join(nodeId: string): Promise<boolean> {
    this.joined.add(nodeId);
    return true;
  }
  holds(nodeId: string): boolean {
    return this.joined.has(nodeId);
  }
  async leave(nodeId: string): Promise<void> {
    this.joined.delete(nodeId);
  }
  async deadAmong(): Promise<undefined> {
    return undefined;
  }
  async retry(): Promise<void> {}
  async close(): Promise<void> {
    this.joined.clear();
  }
}

/** The part of a pg client the liveness connection uses. */
interface LockClient {
  connect(): Promise<unknown>;
  end(): Promise<void>;
  query(sql: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
  on(event: 'error', listener: (error: Error) => void): void;
  on(event: 'end', listener: () => void): void;
  off(event: 'error', listener: (error: Error) => void): void;
  off(event: 'end', listener: () => void): void;
}
type Release = (error?: Error | boolean) => void;
/** TypeORM's PostgreSQL driver: the pg module it loaded and its pool (whose settings we reuse). */
interface PostgresDriverParts {
  postgres: { Client: new (config: unknown) => LockClient };
  master: { options: unknown };
}
interface Held {
  client: LockClient;
  release: Release;
  onError: (error: Error) => void;
  onEnd: () => void;
}

const RECONNECT_MS = { first: 100, max: 5_000 };
// While the node's host is gone (no FIN), the server notices through TCP keepalives: ~25 s
// with these, instead of the operating system's default of hours.
const KEEPALIVES = [
  'SET tcp_keepalives_idle = 10',
  'SET tcp_keepalives_interval = 5',
  'SET tcp_keepalives_count = 3',
];

/**
 * PostgreSQL: every live node holds a session-level advisory lock, keyed by its schema and its
 * `nodeId`, on a connection of its own (outside the store's pool, with the pool's settings, so
 * a small pool is not starved by it). When the node's process dies, the server ends its session
 * and the lock goes with it, at once (a closed socket) or after the keepalive probes (a host
 * that vanished). The other nodes read the held locks from `pg_locks`. One connection holds the
 * locks of every node joined through this store; it reconnects with backoff and takes the locks
 * again when it drops.
 */
export class PostgresNodeLiveness implements NodeLiveness {
  readonly seesOtherNodes = true;
  private readonly namespace: number;
  private readonly joined = new Set<string>();
  private readonly locked = new Set<string>();
  private connection: Held | undefined;
  private connecting: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RECONNECT_MS.first;
  private closed = false;

  constructor(
    private readonly dataSource: DataSource,
    schema: string,
  ) {
    this.namespace = lockKey(`psi-node:${schema}`);
  }

  async join(nodeId: string): Promise<boolean> {
    this.joined.add(nodeId);
    await this.connect();
    await this.lockJoined();
    return this.locked.has(nodeId);
  }

  holds(nodeId: string): boolean {
    return this.locked.has(nodeId);
  }

  async leave(nodeId: string): Promise<void> {
    this.joined.delete(nodeId);
    if (this.locked.delete(nodeId) && this.connection) {
      await this.connection.client
        .query('SELECT pg_advisory_unlock($1, $2)', [this.namespace, lockKey(nodeId)])
        .catch(() => undefined);
    }
    if (this.joined.size === 0) this.disconnect();
  }

  async deadAmong(owners: readonly string[]): Promise<Set<string>> {
    if (owners.length === 0) return new Set();
    const rows = (await this.dataSource.query(
      `SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2
         AND classid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [this.namespace],
    )) as Array<{ objid: string | number }>;
    const live = new Set(rows.map((row) => Number(row.objid)));
    return new Set(owners.filter((owner) => !live.has(lockKey(owner))));
  }

  async retry(): Promise<void> {
    if (this.closed || this.joined.size === this.locked.size) return;
    await this.connect();
    await this.lockJoined();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.joined.clear();
    await this.connecting?.catch(() => undefined);
    this.disconnect();
  }

  private connect(): Promise<void> {
    if (this.connection || this.closed || this.joined.size === 0) return Promise.resolve();
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<void> {
    let held: Held | undefined;
    try {
      const driver = this.dataSource.driver as unknown as PostgresDriverParts;
      const client = new driver.postgres.Client(driver.master.options);
      const release: Release = () => void client.end().catch(() => undefined);
      const self: Held = {
        client,
        release,
        onError: () => this.dropped(self),
        onEnd: () => this.dropped(self),
      };
      held = self;
      client.on('error', self.onError);
      client.on('end', self.onEnd);
      await client.connect();
      for (const sql of KEEPALIVES) await client.query(sql).catch(() => undefined);
      this.connection = self;
      this.retryMs = RECONNECT_MS.first;
      if (this.closed || this.joined.size === 0) this.disconnect();
    } catch {
      if (held) detach(held, true);
      this.scheduleReconnect();
    }
  }

  private async lockJoined(): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    for (const nodeId of [...this.joined]) {
      if (this.locked.has(nodeId)) continue;
      try {
        const { rows } = await connection.client.query(
          'SELECT pg_try_advisory_lock($1, $2) AS locked',
          [this.namespace, lockKey(nodeId)],
        );
        if (rows[0]?.locked === true && this.connection === connection) this.locked.add(nodeId);
      } catch {
        return; // the connection dropped: dropped() reconnects and locks again
      }
    }
  }

  private dropped(held: Held): void {
    if (this.connection !== held) return;
    this.connection = undefined;
    this.locked.clear(); // the server released them with the session
    detach(held, true);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.joined.size === 0 || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect().then(() => this.lockJoined());
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RECONNECT_MS.max);
  }

  private disconnect(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const held = this.connection;
    this.connection = undefined;
    this.locked.clear();
    // Closed: the session's locks end with it.
    if (held) detach(held, true);
  }
}

function detach(held: Held, error: Error | boolean): void {
  held.client.off('error', held.onError);
  held.client.off('end', held.onEnd);
  held.release(error);
}

/** A non-negative 31-bit advisory lock key (pg_locks shows keys as unsigned oids). */
export function lockKey(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0) & 0x7fffffff;
}
