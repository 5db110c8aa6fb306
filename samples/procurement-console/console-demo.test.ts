import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildOnce, psi } from '../../test/cli/cli-harness';
import { launchChromium } from '../../test/console/chromium';
import { startConsoleDemo, type ConsoleDemo } from './console-demo';

// The console sample (issue 19): two confirmations expire into dead letters on purpose; one is
// found and replayed with the real `psi` binary, the other in the console in Chromium; both
// orders are then confirmed and booked.

jest.setTimeout(180_000);

describe('procurement with the console mounted', () => {
  let dir: string;
  let demo: ConsoleDemo | undefined;

  beforeAll(() => buildOnce(), 180_000);
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psi-console-demo-'));
  });
  afterEach(async () => {
    await demo?.close();
    demo = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('makes a dead letter on purpose; it is found and replayed from the CLI and from the page', async () => {
    const sqlitePath = path.join(dir, 'procurement.sqlite');
    demo = await startConsoleDemo({ sqlitePath, jammed: 2, parkingTtlMs: 300 });
    const [byCli, byPage] = demo.jammed;

    // From the CLI: find it among the expired letters, replay it.
    const found = await psi([
      'dead-letters',
      '--cause',
      'expired',
      '--status',
      'open',
      '-o',
      'json',
      '--sqlite',
      sqlitePath,
    ]);
    expect(found.code).toBe(0);
    const ids = (JSON.parse(found.stdout) as { items: Array<{ id: string }> }).items.map(
      (d) => d.id,
    );
    expect(ids.sort()).toEqual([byCli.deadLetterId, byPage.deadLetterId].sort());
    const replay = await psi([
      'dead-letters',
      'replay',
      byCli.deadLetterId,
      '--reason',
      'printer fixed',
      '--actor',
      'ops-cli',
      '--sqlite',
      sqlitePath,
    ]);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('delivered to instance');
    const viaCli = await demo.whenEnded(byCli.instanceId);
    expect(viaCli.variables).toMatchObject({
      orderNumber: byCli.orderNumber,
      erpDocumentId: expect.stringMatching(/^ERP-/),
    });

    // From the page: the console mounted in the app (local-only), the letter, Replay.
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${demo.consoleUrl}dead-letters?reason=expired&status=open`);
      expect(await page.locator('table.records tbody tr').count()).toBe(1);
      await page.click(`a:has-text("${byPage.deadLetterId}")`);
      expect(await page.locator('h2:has-text("Payload") + pre').textContent()).toContain(
        byPage.orderNumber,
      );
      await page.fill(
        'form.act:has(button[data-action=replay]) input[name=operatorReason]',
        'printer fixed',
      );
      await Promise.all([
        page.waitForURL(/\/operations\//),
        page.click('button[data-action=replay]'),
      ]);
      await page.waitForSelector('.progress[data-status=done]', { timeout: 20_000 });
    } finally {
      await browser.close();
    }
    const viaPage = await demo.whenEnded(byPage.instanceId);
    expect(viaPage.variables).toMatchObject({
      orderNumber: byPage.orderNumber,
      erpDocumentId: expect.stringMatching(/^ERP-/),
    });
    const actors = (await demo.coordinator.operations.recentActions())
      .filter((a) => a.kind === 'replayed')
      .map((a) => [a.detail?.actor, a.detail?.channel]);
    expect(actors.sort()).toEqual([
      ['local', 'console'],
      ['ops-cli', 'cli'],
    ]);
  });
});
