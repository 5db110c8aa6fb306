import { execSync, fork, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { PsiStore } from '@psi/core';
import { dropSchemas, freshSchemaName, TEST_POSTGRES_URL } from '../foundation/test-stores';

// Runs the real `psi` binary (node_modules/.bin/psi, the workspace's bin) and PSI nodes in child
// processes on one store, for the CLI tests.

export const root = path.resolve(__dirname, '../..');
const PSI_BIN = path.join(root, 'node_modules', '.bin', 'psi');
const NODE_CHILD = path.join(__dirname, 'ops-node-child.js');

/** Builds the packages the binary and the node children run (dist). */
export function buildOnce(): void {
  execSync('npx tsc -b tsconfig.build.json', { cwd: root, stdio: 'pipe' });
}

export interface PsiRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A store the CLI and the nodes share: a SQLite file or a PostgreSQL schema. */
export interface SharedStore {
  kind: 'sqlite' | 'postgres';
  /** The CLI's store options. */
  args: string[];
  /** The same store in psi's environment variables (no options). */
  env: Record<string, string>;
  /** The node child's environment. */
  nodeEnv: Record<string, string>;
  open(): Promise<PsiStore>;
  cleanup(): Promise<void>;
}

export function sharedStore(kind: 'sqlite' | 'postgres'): SharedStore {
  if (kind === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-cli-'));
    const file = path.join(dir, 'psi.sqlite');
    return {
      kind,
      args: ['--sqlite', file],
      env: { PSI_SQLITE_PATH: file },
      nodeEnv: { PSI_SQLITE: file },
      open: () => PsiStore.open({ sqlitePath: file, migrate: false }),
      cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  const schema = freshSchemaName('cli');
  return {
    kind,
    args: ['--url', TEST_POSTGRES_URL, '--schema', schema],
    env: { PSI_DATABASE_URL: TEST_POSTGRES_URL, PSI_DATABASE_SCHEMA: schema },
    nodeEnv: { PSI_URL: TEST_POSTGRES_URL, PSI_SCHEMA: schema },
    open: () => PsiStore.open({ url: TEST_POSTGRES_URL, schema, migrate: false, poolSize: 2 }),
    cleanup: () => dropSchemas([schema]),
  };
}

/** Environment without any store settings of the caller's. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of ['PSI_DATABASE_URL', 'PSI_DATABASE_SCHEMA', 'PSI_SQLITE_PATH', 'PSI_ACTOR'])
    delete env[key];
  return { ...env, ...extra };
}

/** Runs `psi …` to its end (no terminal: stdin closed). */
export function psi(args: readonly string[], env: Record<string, string> = {}): Promise<PsiRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(PSI_BIN, args, {
      cwd: os.tmpdir(),
      env: cleanEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `psi … -o json`, exit code 0, parsed. */
export async function psiJson<T = Record<string, unknown>>(
  args: readonly string[],
  env?: Record<string, string>,
): Promise<T> {
  const run = await psi([...args, '-o', 'json'], env);
  if (run.code !== 0) throw new Error(`psi ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/** A PSI node in a child process (ops-node-child.js). */
export interface NodeProcess {
  child: ChildProcess;
  problems: Array<{ level: string; message: string }>;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export function startNode(store: SharedStore, env: Record<string, string>): Promise<NodeProcess> {
  const child = fork(NODE_CHILD, [], {
    cwd: root,
    env: cleanEnv({ ...store.nodeEnv, ...env }),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const problems: NodeProcess['problems'] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('node did not get ready in 60 s')), 60_000);
    child.on('message', (message: { type: string; level?: string; message?: string }) => {
      if (message.type === 'problem') {
        problems.push({ level: message.level ?? '', message: message.message ?? '' });
        if (message.level === 'fatal') {
          clearTimeout(timer);
          reject(new Error(message.message));
        }
      }
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve({
          child,
          problems,
          stop: async () => {
            if (child.exitCode === null && child.connected) child.send({ cmd: 'stop' });
            await exited;
          },
          kill: async () => {
            child.kill('SIGKILL');
            await exited;
          },
        });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code} before it was ready`));
    });
  });
}

const schemaFile = path.join(root, 'packages', 'cli', 'schemas', 'psi-cli.schema.json');
let ajv: Ajv2020 | undefined;

/** Checks a document against `$defs/<name>` of the CLI's published schema; returns the errors. */
export function schemaErrors(name: string, document: unknown): string[] {
  if (!ajv) {
    ajv = new Ajv2020({ allErrors: true, strict: false });
    ajv.addSchema(JSON.parse(fs.readFileSync(schemaFile, 'utf8')) as object, 'psi-cli');
  }
  const validate = ajv.getSchema(`psi-cli#/$defs/${name}`);
  if (!validate) throw new Error(`no $defs/${name} in the CLI schema`);
  if (validate(document)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
}

/** Polls `check` every 50 ms until it returns a value; fails naming `what` after `timeoutMs`. */
export async function until<T>(
  check: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
