import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

// The browser tests' Chromium: the one shipped inside the npm package @sparticuz/chromium (a
// devDependency, so `npm ci` brings it; nothing is downloaded at test time and nothing is
// installed on the machine). Measured for issue 19 against Debian's `chromium` package: see
// README "Operating PSI" → the console's tests. The package is ESM, so its executablePath()
// (which unpacks the brotli-compressed binary into the temp dir once) runs in a child process.

let executable: string | undefined;

function chromiumPath(): string {
  executable ??= execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "import chromium from '@sparticuz/chromium'; process.stdout.write(await chromium.executablePath());",
    ],
    { cwd: path.resolve(__dirname, '../..'), encoding: 'utf8', timeout: 120_000 },
  ).trim();
  return executable;
}

/** A headless Chromium driven by playwright-core. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // The package's build is a headless shell; no sandbox as root in CI; the fonts it ships
    // (unpacked beside the binary) render pages and screenshots the same on every machine.
    args: ['--no-sandbox', '--no-zygote', '--headless=shell'],
    env: { ...process.env, FONTCONFIG_PATH: path.join(os.tmpdir(), 'fonts') },
  });
}
