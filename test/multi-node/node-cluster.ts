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
  ) {}

  /** Creates and migrates the schema, with the side-effect table the test handler writes. */
  static async create(
    onMessage: (node: NodeProcess, message: NodeMessage) => void = () => undefined,
  ): Promise<NodeCluster> {
    const schema = freshSchemaName('mn');
    const admin = await PsiStore.open({ url: TEST_POSTGRES_URL, schema, poolSize: 4 });
    // The handler's own side-effect table, beside PSI's (not a PSI record).
    await admin.dataSource.query(
      'CREATE TABLE test_side_effect ("instanceId" varchar PRIMARY KEY, node varchar NOT NULL, "messageId" varchar NOT NULL, "deliveryId" varchar NOT NULL, runs integer NOT NULL)',
    );
    return new NodeCluster(schema, admin, onMessage);
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
        PSI_URL: TEST_POSTGRES_URL,
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
    await dropSchemas([this.schema]);
  }
}
