import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { processCpuMicros } from './probes';

/** A restate-server this entry started, on loopback ports nobody else had. */
export interface RestateServer {
  pid: number;
  ingressUrl: string;
  adminUrl: string;
  /** CPU the server spends per second doing nothing (gossip, its partitions' timers), in µs. */
  idleCpuMicrosPerSecond(seconds: number): Promise<number | undefined>;
  /** Journal entries per invocation by service, from the server's own introspection. */
  journalEntries(): Promise<Map<string, number>>;
  stop(): Promise<void>;
}

/**
 * Starts the restate-server binary that `@restatedev/restate-server` ships for this platform,
 * with its data in `dir`, default configuration except: loopback TCP ports that were free a moment
 * before, no telemetry, warn-level logs (in `dir/server.log`). It tries to reach GitHub for an
 * update check at start (logged as an `octocrab` error where there is no internet) and runs
 * regardless. Resolves once its admin and ingress answer their health checks.
 */
export async function startRestateServer(
  fromPeers: NodeRequire,
  dir: string,
): Promise<RestateServer> {
  const binary = fromPeers.resolve(
    `@restatedev/restate-server-${process.platform}-${process.arch}/bin/restate-server`,
  );
  const [nodePort, ingressPort, adminPort] = await freePorts(3);
  fs.mkdirSync(dir, { recursive: true });
  const configFile = path.join(dir, 'restate.toml');
  fs.writeFileSync(
    configFile,
    [
      'disable-telemetry = true',
      'log-filter = "warn"',
      'listen-mode = "tcp"',
      'bind-ip = "127.0.0.1"',
      `bind-port = ${nodePort}`,
      '[ingress]',
      `bind-port = ${ingressPort}`,
      '[admin]',
      `bind-port = ${adminPort}`,
      '',
    ].join('\n'),
  );
  const logFile = path.join(dir, 'server.log');
  const out = fs.openSync(logFile, 'w');
  const child = spawn(
    binary,
    ['--config-file', configFile, '--base-dir', path.join(dir, 'data'), '--no-logo'],
    { stdio: ['ignore', out, out] },
  );
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ingressUrl = `http://127.0.0.1:${ingressPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const server: RestateServer = {
    pid: child.pid ?? 0,
    ingressUrl,
    adminUrl,
    async idleCpuMicrosPerSecond(seconds) {
      const before = processCpuMicros(server.pid);
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      const after = processCpuMicros(server.pid);
      return before === undefined || after === undefined ? undefined : (after - before) / seconds;
    },
    async journalEntries() {
      const response = await fetch(`${adminUrl}/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({
          query:
            'SELECT target_service_name AS target, count(*) AS invocations, ' +
            'avg(journal_size) AS entries FROM sys_invocation GROUP BY target_service_name',
        }),
      });
      if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
      const { rows } = (await response.json()) as {
        rows: Array<{ target: string; invocations: number; entries: number }>;
      };
      return new Map(rows.map((r) => [r.target, Number(r.entries)]));
    },
    stop: () => stop(child, exited),
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && child.exitCode === null) {
    if ((await healthy(`${adminUrl}/health`)) && (await healthy(`${ingressUrl}/restate/health`)))
      return server;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await server.stop();
  const tail = fs.readFileSync(logFile, 'utf8').slice(-1500);
  throw new Error(`restate-server did not become healthy within 60 s: ${tail}`);
}

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false;
  }
}

/** SIGTERM to the server this entry started (by its pid), SIGKILL if it has not exited in 20 s. */
async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>(
    (resolve) => (timer = setTimeout(() => resolve('late'), 20_000)),
  );
  const outcome = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (outcome === 'late') child.kill('SIGKILL');
}

/** `count` loopback ports the kernel hands out now (another process may take one before use). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}
