import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { KafkaMockClusterError } from '../errors';

/** A running librdkafka mock cluster (see {@link startKafkaMockCluster}). */
export interface KafkaMockCluster {
  /** Bootstrap servers for kafkajs, e.g. `['127.0.0.1:40617']`. */
  readonly brokers: string[];
  /** Stops the cluster (SIGTERM, SIGKILL after 3 s); resolves once its process exited. */
  stop(): Promise<void>;
}

/** Options of {@link startKafkaMockCluster}. */
export interface KafkaMockClusterOptions {
  /** Brokers in the cluster. @default 1 */
  brokerCount?: number;
  /** How long to wait for the cluster's addresses before giving up. @default 20000 */
  startTimeoutMs?: number;
}

/** The host's C source, shipped beside `dist/` (src/testing and dist/testing are two levels down). */
const HOST_SOURCE = path.resolve(__dirname, '../../native/psi-kafka-mock.c');

/**
 * Starts librdkafka's mock Kafka cluster in a child process and resolves with its bootstrap
 * servers. The mock speaks the Kafka protocol over TCP on loopback, so kafkajs (and PSI's
 * `KafkaTransport`) talk to it as to a real cluster: produce, fetch, consumer groups, offset
 * commits, headers. It needs the optional peer dependency `node-rdkafka`, which compiles
 * librdkafka from its bundled source at install: nothing else to install, no broker to run.
 *
 * The host process (`native/psi-kafka-mock.c`) is compiled on first use with the system's C
 * compiler against node-rdkafka's librdkafka (well under a second) and cached under
 * `node_modules/.cache/psi-kafka-mock`, keyed by source and library. It exits when the parent's
 * end of its stdin closes, so a test process that dies leaves no broker behind. What to know about the mock: topics auto-create with 4 partitions on first
 * use (`CreateTopics` is not supported); a consumer group's first join takes ~3 s.
 *
 * @example
 * const cluster = await startKafkaMockCluster();
 * const transport = new KafkaTransport({ brokers: cluster.brokers, groupId: 'psi', replyTopics: ['replies'] });
 * // … run the test …
 * await cluster.stop();
 */
export async function startKafkaMockCluster(
  options: KafkaMockClusterOptions = {},
): Promise<KafkaMockCluster> {
  const brokerCount = options.brokerCount ?? 1;
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  const host = await kafkaMockHostBinary();
  const child = spawn(host, [String(brokerCount), '--exit-with-stdin'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // The host watches its stdin: it must not keep this process alive, nor outlive it.
  child.stdin.on('error', () => undefined);
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    (stream as unknown as { unref?: () => void }).unref?.();
  }
  child.unref();
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const bootstrap = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const fail = (reason: string): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      process.removeListener('exit', killOnExit);
      reject(new KafkaMockClusterError(reason, stderr.trim()));
    };
    const timer = setTimeout(
      () => fail(`it printed no broker addresses within ${timeoutMs} ms`),
      timeoutMs,
    );
    const exitedEarly = (code: number | null, signal: NodeJS.Signals | null): void =>
      fail(`it exited (${code ?? signal}) before it was ready`);
    child.once('error', (error) => fail(error.message));
    child.once('exit', exitedEarly);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const newline = stdout.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      child.removeListener('exit', exitedEarly);
      resolve(stdout.slice(0, newline).trim());
    });
  });

  let stopped: Promise<void> | undefined;
  return {
    brokers: bootstrap.split(','),
    stop: () =>
      (stopped ??= (async () => {
        process.removeListener('exit', killOnExit);
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.ref(); // keep this process alive until the host has gone
        child.kill('SIGTERM');
        const force = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(force);
      })()),
  };
}

/**
 * Path of the compiled mock host, compiling it when the source or node-rdkafka's librdkafka
 * changed. Parallel test workers may compile at once: each writes its own file, the rename is
 * atomic.
 */
async function kafkaMockHostBinary(): Promise<string> {
  let rdkafkaDir: string;
  try {
    rdkafkaDir = path.dirname(require.resolve('node-rdkafka/package.json'));
  } catch (error) {
    throw new KafkaMockClusterError('the npm package node-rdkafka is not installed', String(error));
  }
  const libDir = path.join(rdkafkaDir, 'build/deps');
  const library = path.join(libDir, 'librdkafka.so');
  if (!existsSync(library)) {
    throw new KafkaMockClusterError(
      `node-rdkafka has no built librdkafka at ${library} (was its install script skipped? ` +
        'approve it in allowScripts and reinstall)',
      '',
    );
  }
  const libraryStat = statSync(library);
  const hash = createHash('sha256')
    .update(readFileSync(HOST_SOURCE))
    .update(`${library}:${libraryStat.size}:${libraryStat.mtimeMs}`)
    .digest('hex')
    .slice(0, 16);
  const cacheDir = path.join(rdkafkaDir, '..', '.cache', 'psi-kafka-mock');
  const binary = path.join(cacheDir, `psi-kafka-mock-${hash}`);
  if (existsSync(binary)) return binary;
  mkdirSync(cacheDir, { recursive: true });
  const temporary = `${binary}.${process.pid}.tmp`;
  const compiler = process.env.CC ?? 'cc';
  try {
    await promisify(execFile)(compiler, [
      '-O2',
      '-o',
      temporary,
      HOST_SOURCE,
      `-I${path.join(libDir, 'include')}`,
      `-L${libDir}`,
      '-lrdkafka',
      `-Wl,-rpath,${libDir}`,
    ]);
  } catch (error) {
    const output = (error as { stderr?: string }).stderr ?? String(error);
    throw new KafkaMockClusterError(`${compiler} could not compile ${HOST_SOURCE}`, output);
  }
  renameSync(temporary, binary);
  return binary;
}
