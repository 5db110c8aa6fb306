import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { PsiStore } from '@psi/core';
import { dropSchemas, freshSchemaName, TEST_POSTGRES_URL } from '../foundation/test-stores';

/** A message a node sends its parent (see node-child.js). */
export type NodeMessage =
  | { type: 'ready'; nodeId: string }
  | { type: 'sent'; instanceId: string; correlationKey: string; requestId: string }
  | { type: 'started'; id: string }
  | { type: 'received'; messageId: string; outcome: { status: string; reason?: string } }
  | { type: 'guarded'; results: Array<{ started: boolean; ownerToken?: string; heldBy?: string }> }
  | { type: 'stopped' }
  | { type: 'problem'; level: string; message: string; detail?: unknown };

export type NodeCommand =
  | { cmd: 'start'; ids: string[] }
  | { cmd: 'answer'; messageId: string; correlationKey: string; instanceId: string }
  | { cmd: 'guard'; starts: Array<{ id: string; owner: string }>; ttlMs: number }
  | { cmd: 'stop' };

const child = path.join(__dirname, 'node-child.js');
const root = path.resolve(__dirname, '..', '..');

/** One coordinator process on the cluster's schema. */
export class NodeProcess {
  readonly problems: Array<{ level: string; message: string; detail?: unknown }> = [];
  private readonly listeners = new Set<(message: NodeMessage) => void>();
  private exited = false;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly nodeId: string,
    private readonly process: ChildProcess,
    onMessage: (node: NodeProcess, message: NodeMessage) => void,
  ) {
    process.on('message', (raw) => {
      const message = raw as NodeMessage;
      if (message.type === 'problem') this.problems.push(message);
      onMessage(this, message);
      for (const listener of [...this.listeners]) listener(message);
    });
    this.exit = new Promise((resolve) =>
      process.on('exit', (code, signal) => {
        this.exited = true;
        resolve({ code, signal });
      }),
    );
  }

  get alive(): boolean {
    return !this.exited && this.process.connected;
  }

  send(command: NodeCommand): boolean {
    if (!this.alive) return false;
    try {
      this.process.send(command);
      return true;
    } catch {
      return false;
    }
  }

  /** Resolves with the first message matching `match` (rejects after `timeoutMs`). */
  next<T extends NodeMessage>(
    match: (message: NodeMessage) => message is T,
    timeoutMs = 60_000,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`node ${this.nodeId}: no matching message within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (message: NodeMessage): void => {
        if (!match(message)) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(message);
      };
      this.listeners.add(listener);
    });
  }

  kill(): void {
    this.process.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    const stopped = this.next((m): m is { type: 'stopped' } => m.type === 'stopped', 30_000);
    this.send({ cmd: 'stop' });
    await stopped.catch(() => this.process.kill('SIGKILL'));
    await this.exit;
  }
}

/** Coordinator processes (test/multi-node/node-child.js) on one fresh PostgreSQL schema. */
export class NodeCluster {
  readonly nodes: NodeProcess[] = [];
  private constructor(
    readonly schema: string,
    readonly admin: PsiStore,
    private readonly onMessage: (node: NodeProcess, message: NodeMessage) => void,
    /** Writes are logged in test_write_log, each connection named after its node. */
    private readonly traced = false,
  ) {}

  /** Creates and migrates the schema, with the side-effect table the test handler writes. */
  static async create(
    onMessage: (node: NodeProcess, message: NodeMessage) => void = () => undefined,
    options: { traceWrites?: boolean } = {},
  ): Promise<NodeCluster> {
    const schema = freshSchemaName('mn');
    const admin = await PsiStore.open({ url: TEST_POSTGRES_URL, schema, poolSize: 4 });
    // The handler's own side-effect table, beside PSI's (not a PSI record).
    await admin.dataSource.query(
      'CREATE TABLE test_side_effect ("instanceId" varchar PRIMARY KEY, node varchar NOT NULL, "messageId" varchar NOT NULL, "deliveryId" varchar NOT NULL, runs integer NOT NULL)',
    );
    const traced = options.traceWrites === true || process.env.PSI_TEST_TRACE_WRITES === '1';
    if (traced) await traceWrites(admin, schema);
    return new NodeCluster(schema, admin, onMessage, traced);
  }

  /** Starts a node and waits until it is ready. */
  async spawn(
    nodeId: string,
    env: { leaseMs?: number; timeoutMs?: number; restore?: boolean; serviceHangs?: boolean } = {},
  ): Promise<NodeProcess> {
    const proc = fork(child, [], {
      cwd: root,
      env: {
        ...process.env,
        PSI_URL: this.traced
          ? `${TEST_POSTGRES_URL}?application_name=${nodeId}`
          : TEST_POSTGRES_URL,
        PSI_SCHEMA: this.schema,
        NODE_ID: nodeId,
        LEASE_MS: String(env.leaseMs ?? 30_000),
        TIMEOUT_MS: String(env.timeoutMs ?? 60_000),
        RESTORE: env.restore ? '1' : '0',
        SERVICE_HANGS: env.serviceHangs ? '1' : '0',
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const node = new NodeProcess(nodeId, proc, this.onMessage);
    this.nodes.push(node);
    const ready = node.next((m): m is { type: 'ready'; nodeId: string } => m.type === 'ready');
    const failed = node.exit.then((exit) => {
      throw new Error(`node ${nodeId} exited before it was ready: ${JSON.stringify(exit)}`);
    });
    await Promise.race([ready, failed]);
    return node;
  }

  query<T>(sql: string, parameters?: unknown[]): Promise<T[]> {
    return this.admin.dataSource.query(sql, parameters) as Promise<T[]>;
  }

  /** Stops every live node, closes the admin store and drops the schema. */
  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
    await this.admin.close();
    if (process.env.PSI_TEST_KEEP_SCHEMA === '1') {
      console.info(`schema kept: ${this.schema}`);
      return;
    }
    await dropSchemas([this.schema]);
  }
}

/**
 * `traceWrites` (or PSI_TEST_TRACE_WRITES=1 for any cluster, to diagnose): every write of an engine state, an expectation and
 * an audit row is logged with its transaction id and the node (application_name) that made it,
 * so a stuck instance shows which commit last wrote its state. Keep the schema to read it
 * (PSI_TEST_KEEP_SCHEMA=1).
 */
async function traceWrites(admin: PsiStore, schema: string): Promise<void> {
  await admin.dataSource.query(`
    CREATE TABLE "${schema}".test_write_log (seq bigserial PRIMARY KEY, tbl text, op text, "instanceId" text,
      detail text, txid bigint DEFAULT txid_current(), node text DEFAULT current_setting('application_name'),
      at timestamptz DEFAULT clock_timestamp());
    CREATE FUNCTION "${schema}".test_log_engine() RETURNS trigger AS $$ BEGIN
      INSERT INTO "${schema}".test_write_log (tbl, op, "instanceId", detail)
        VALUES ('engine', TG_OP, NEW."instanceId", (NEW.state::json->>'history') || ' ' || (NEW.state::json->>'status') || ' upd=' || NEW."updatedAt");
      RETURN NEW; END $$ LANGUAGE plpgsql;
    CREATE TRIGGER test_log_engine AFTER INSERT OR UPDATE ON "${schema}".psi_engine_instance
      FOR EACH ROW EXECUTE FUNCTION "${schema}".test_log_engine();
    CREATE FUNCTION "${schema}".test_log_expectation() RETURNS trigger AS $$ BEGIN
      INSERT INTO "${schema}".test_write_log (tbl, op, "instanceId", detail)
        VALUES ('expectation', TG_OP, NEW."instanceId", NEW.status);
      RETURN NEW; END $$ LANGUAGE plpgsql;
    CREATE TRIGGER test_log_expectation AFTER INSERT OR UPDATE ON "${schema}".psi_expectation
      FOR EACH ROW EXECUTE FUNCTION "${schema}".test_log_expectation();
    CREATE FUNCTION "${schema}".test_log_audit() RETURNS trigger AS $$ BEGIN
      INSERT INTO "${schema}".test_write_log (tbl, op, "instanceId", detail)
        VALUES ('audit', TG_OP, NEW."instanceId", NEW.kind);
      RETURN NEW; END $$ LANGUAGE plpgsql;
    CREATE TRIGGER test_log_audit AFTER INSERT ON "${schema}".psi_audit
      FOR EACH ROW EXECUTE FUNCTION "${schema}".test_log_audit();
  `);
}
