import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The peers' packages, at the versions the side-by-side measurement of issue 17 used. They are
 * installed on demand into a cache folder, never by `npm ci` and never into the repository's
 * package.json or lock: a user of PSI does not need them, only this bench entry does.
 */
export const PEER_PACKAGES: Readonly<Record<string, string>> = {
  '@dbos-inc/dbos-sdk': '5.3.0',
  // Ships the restate-server binary in an optional per-platform package.
  '@restatedev/restate-server': '1.7.12',
  '@restatedev/restate-sdk': '1.17.2',
  '@restatedev/restate-sdk-clients': '1.17.2',
};

/** The versions of the packages under `scope`, for notes: "restate-server 1.7.12 / ...". */
export function peerVersions(scope = '@'): string {
  return Object.entries(PEER_PACKAGES)
    .filter(([name]) => name.startsWith(scope))
    .map(([name, version]) => `${name.replace(/^@[^/]+\//, '')} ${version}`)
    .join(' / ');
}

/**
 * `$PSI_BENCH_PEERS_DIR`, else `$XDG_CACHE_HOME/psi-bench-peers`, else `~/.cache/psi-bench-peers`;
 * one folder per set of pinned versions inside it, so changing a pin installs afresh. Outside the
 * repository, so that no package of the peers can resolve a module from PSI's node_modules.
 */
export function peersFolder(): string {
  const root =
    process.env.PSI_BENCH_PEERS_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'psi-bench-peers');
  const key = Object.entries(PEER_PACKAGES)
    .map(([name, version]) => `${name.replace(/^@[^/]+\//, '')}@${version}`)
    .join('_');
  return path.join(root, key);
}

const DONE = '.psi-peers-installed';
/** An install that takes longer (no registry, a stalled download) is given up. */
const INSTALL_TIMEOUT_MS = 10 * 60_000;

/**
 * Installs the peers into {@link peersFolder} unless a previous run did, and returns a `require`
 * that resolves from there. Installs into a sibling temporary folder and renames it when npm
 * succeeded, so an interrupted install or two runs at once never leave a half-filled cache.
 * Install scripts are not run (the peers need none; one dependency's would send telemetry).
 */
export async function installPeers(log: (message: string) => void): Promise<NodeRequire> {
  const folder = peersFolder();
  if (!fs.existsSync(path.join(folder, DONE))) {
    fs.mkdirSync(path.dirname(folder), { recursive: true });
    const staging = fs.mkdtempSync(`${folder}.installing-`);
    try {
      fs.writeFileSync(
        path.join(staging, 'package.json'),
        JSON.stringify(
          { name: 'psi-bench-peers', private: true, dependencies: PEER_PACKAGES },
          null,
          2,
        ),
      );
      log(`  installing ${peerVersions()} into ${folder} (once)`);
      await npmInstall(staging);
      fs.writeFileSync(path.join(staging, DONE), `${new Date().toISOString()}\n`);
      try {
        fs.renameSync(staging, folder);
      } catch (error) {
        // Another run finished first: its folder is as good as ours.
        if (!fs.existsSync(path.join(folder, DONE))) throw error;
      }
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }
  return createRequire(path.join(folder, 'package.json'));
}

/** `npm install` in `folder`, with npm's own settings from the enclosing `npm run` left out. */
function npmInstall(folder: string): Promise<void> {
  // Under `npm run bench` npm passes its settings down as npm_* variables; the prefix ones would
  // point the install at the repository. Keep the registry, cache and proxy settings.
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    const lower = key.toLowerCase();
    if (/^npm_(package|lifecycle)_/.test(lower)) continue;
    if (/^npm_config_(local_prefix|prefix|global|workspaces?|include_workspace_root)$/.test(lower))
      continue;
    env[key] = value;
  }
  env.SCARF_ANALYTICS = 'false';
  const npmCli = process.env.npm_execpath;
  const [command, args] = npmCli?.endsWith('.js')
    ? [process.execPath, [npmCli]]
    : [process.platform === 'win32' ? 'npm.cmd' : 'npm', []];
  const install = [
    ...args,
    'install',
    '--prefix',
    folder,
    '--no-audit',
    '--no-fund',
    '--ignore-scripts',
    '--loglevel=error',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(command, install, { cwd: folder, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill(), INSTALL_TIMEOUT_MS);
    child.on('exit', () => clearTimeout(timer));
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error) => reject(new Error(`npm could not start: ${error.message}`)));
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`npm install exited with ${String(code)}: ${npmError(output)}`)),
    );
  });
}

/** The line of npm's error output that says what went wrong (not its code lines or stack). */
function npmError(output: string): string {
  const lines = output.split('\n').map((line) => line.replace(/^npm (error|ERR!) /, ''));
  const said = lines.find(
    (line) =>
      line.trim() !== '' &&
      !/^\s/.test(line) &&
      !/^(code|errno|syscall) /.test(line) &&
      !line.startsWith('A complete log'),
  );
  return (said ?? output.trim()).slice(0, 400);
}
