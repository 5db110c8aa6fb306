import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

/** A Kafka cluster for a test: the mock broker, or the real one named by KAFKA_BROKERS. */
export interface KafkaTestCluster {
  brokers: string[];
  /** True when KAFKA_BROKERS named a real cluster (no auto-created 4-partition topics there). */
  external: boolean;
  stop(): Promise<void>;
}

const root = path.resolve(__dirname, '../..');
const source = path.join(root, 'scripts/kafka-mock/mock-broker.c');
const cacheDir = path.join(root, 'node_modules/.cache/psi-kafka-mock');

/**
 * Starts librdkafka's mock cluster (scripts/kafka-mock/mock-broker.c, compiled on first use and
 * cached by source hash) and resolves with its bootstrap servers. With KAFKA_BROKERS set
 * (`host:port,host:port`), uses that cluster instead and spawns nothing.
 *
 * The mock auto-creates topics with 4 partitions on first use; its first group join takes 3 s.
 */
export async function startMockBroker(
  options: { brokerCount?: number; startTimeoutMs?: number } = {},
): Promise<KafkaTestCluster> {
  const external = process.env.KAFKA_BROKERS?.trim();
  if (external) {
    return {
      brokers: external.split(',').map((b) => b.trim()),
      external: true,
      stop: async () => undefined,
    };
  }
  const binary = await mockBrokerBinary();
  const child = spawn(binary, [String(options.brokerCount ?? 1)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  const bootstrap = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(
      () =>
        fail(new Error(`Mock Kafka broker printed no bootstrap servers within ${timeoutMs} ms.`)),
      timeoutMs,
    );
    const fail = (error: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    child.once('error', fail);
    child.once('exit', (code, signal) =>
      fail(
        new Error(`Mock Kafka broker exited (${code ?? signal}) before it was ready: ${stderr}`),
      ),
    );
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const newline = stdout.indexOf('\n');
      if (newline >= 0) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve(stdout.slice(0, newline).trim());
      }
    });
  });

  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    brokers: bootstrap.split(','),
    external: false,
    stop: async () => {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Path of the compiled mock broker, compiling it (cc … -lrdkafka) when the source changed. */
export async function mockBrokerBinary(): Promise<string> {
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 16);
  const binary = path.join(cacheDir, `mock-broker-${hash}`);
  if (existsSync(binary)) return binary;
  mkdirSync(cacheDir, { recursive: true });
  // Parallel jest workers may compile at once: each writes its own file, the rename is atomic.
  const temporary = `${binary}.${process.pid}.tmp`;
  try {
    await promisify(execFile)('cc', ['-O2', '-o', temporary, source, '-lrdkafka']);
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr ?? String(error);
    throw new Error(
      `Could not compile the mock Kafka broker (${source}). Install a C compiler and librdkafka ` +
        `(apt-get install -y gcc librdkafka-dev), or set KAFKA_BROKERS to a real cluster.\n${detail}`,
    );
  }
  renameSync(temporary, binary);
  return binary;
}
