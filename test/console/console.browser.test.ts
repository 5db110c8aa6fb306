import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { handlerState, type OpsWorld } from '../operations/ops-world';
import { useStoreLocations } from '../foundation/test-stores';
import { launchChromium } from './chromium';
import { openConsoleApp, type ConsoleApp } from './console-app';

// Issue 19, "Must show": the console in real Chromium (playwright-core; the Chromium of the npm
// package @sparticuz/chromium). An operator logs in through the app's own login, sees a dead
// letter, filters, dry-runs a bulk replay, replays, sees it delivered and the audit entry with
// the actor; a reader cannot act (the page hides the buttons, the server refuses the POST); a
// POST without a valid CSRF token is refused. PSI_CONSOLE_SCREENSHOTS=<dir> saves the overview
// and a dead-letter page (docs/ holds the ones in the README).

jest.setTimeout(120_000);

const screenshots = process.env.PSI_CONSOLE_SCREENSHOTS;

/** Dead letters the browser works on: handler-failed answers of orders waiting at "await". */
async function makeDeadLetters(world: OpsWorld, orders: number): Promise<string[]> {
  const instances: string[] = [];
  handlerState.broken = true;
  try {
    for (let i = 1; i <= orders; i++) {
      const instanceId = await world.startOrder(`PO-${100 + i}`);
      await world.proceed(instanceId);
      await world.confirm(`PO-${100 + i}`, `C-${i}`, `answer-${i}`);
      instances.push(instanceId);
    }
  } finally {
    handlerState.broken = false;
  }
  // And one that waits: an early answer, parked until the order is ready.
  const waiting = await world.startOrder('PO-200');
  await world.confirm('PO-200');
  instances.push(waiting);
  return instances;
}

async function logIn(page: Page, console: ConsoleApp, username: string): Promise<void> {
  await page.goto(`${console.url}/psi/`);
  expect(new URL(page.url()).pathname).toBe('/login'); // the app's login, not the console's
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', `${username}-pw`);
  await Promise.all([page.waitForURL(`${console.url}/psi/`), page.click('button[type=submit]')]);
}

const csrfOf = (page: Page) => page.locator('meta[name=psi-csrf]').getAttribute('content');

describe('PSI console in Chromium', () => {
  const locations = useStoreLocations('sqlite', 'psi-console-');
  let browser: Browser;
  let console_: ConsoleApp;
  let instances: string[];

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    handlerState.broken = false;
    console_ = await openConsoleApp(locations.next());
    instances = await makeDeadLetters(console_.world, 4);
  });
  afterEach(async () => {
    await console_?.close();
  });

  it('an operator logs in, filters, replays one letter and dry-runs then replays the rest; sees them delivered and audited', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const ops = console_.world.h.coordinator.operations;
    await logIn(page, console_, 'alice');

    // Overview: the counts, and the activity chart.
    await expect(page.locator('[data-count="dead letters"]').textContent()).resolves.toBe('4');
    await expect(page.locator('[data-count="parked"]').textContent()).resolves.toBe('1');
    expect(await page.locator('figure.chart rect.dead').count()).toBeGreaterThan(0);
    if (screenshots)
      await page.screenshot({
        path: path.join(screenshots, 'console-overview.png'),
        fullPage: true,
      });

    // The list, filtered: the filter is the URL.
    await page.click('header nav >> text=Dead letters');
    expect(await page.locator('table.records tbody tr').count()).toBe(4);
    await page.selectOption('form.filters select[name=reason]', 'handler-failed');
    await page.fill('form.filters input[name=instance]', instances[0]);
    await Promise.all([
      page.waitForURL(/reason=handler-failed/),
      page.click('form.filters button[type=submit]'),
    ]);
    expect(new URL(page.url()).searchParams.get('instance')).toBe(instances[0]);
    expect(await page.locator('table.records tbody tr').count()).toBe(1);

    // One dead letter, whole: payload, headers, reason, trace id, the instance's timeline.
    await page.click('table.records tbody tr >> a >> nth=0');
    await expect(page.locator('h2:has-text("Payload") + pre').textContent()).resolves.toContain(
      '"confirmationId": "C-1"',
    );
    expect(await page.locator('dl.facts').first().textContent()).toContain('handler-failed');
    expect(await page.locator('.trace').textContent()).toContain('trace id');
    expect(await page.locator('table.timeline tr[data-kind=dead-lettered]').count()).toBe(1);
    if (screenshots)
      await page.screenshot({
        path: path.join(screenshots, 'console-dead-letter.png'),
        fullPage: true,
      });

    // Replay it, with a reason: delivered, audited with alice as the actor.
    await page.fill(
      'form.act:has(button[data-action=replay]) input[name=operatorReason]',
      'confirmation store is back',
    );
    await Promise.all([
      page.waitForURL(/\/psi\/operations\//),
      page.click('button[data-action=replay]'),
    ]);
    await page.waitForSelector('.progress[data-status=done]', { timeout: 20_000 });
    expect(
      await page.locator('table.items tbody tr[data-status=succeeded]').textContent(),
    ).toContain('delivered to instance');
    await console_.world.endsAt(instances[0], 'done');

    // The rest in bulk: dry run first (nothing changes), then confirm.
    await page.goto(`${console_.url}/psi/dead-letters?reason=handler-failed&status=open`);
    expect(await page.locator('table.records tbody tr').count()).toBe(3);
    await Promise.all([
      page.waitForURL(/actions\/preview/),
      page.click('form.bulk button[value=replay]'),
    ]);
    await expect(page.locator('[data-preview-count]').textContent()).resolves.toBe('3');
    expect(
      (await ops.deadLetters({ status: 'open', reason: 'handler-failed' })).items,
    ).toHaveLength(3);
    await page.fill('form.confirm input[name=operatorReason]', 'confirmation store is back');
    await Promise.all([
      page.waitForURL(/\/psi\/operations\//),
      page.click('form.confirm button[type=submit]'),
    ]);
    await page.waitForSelector('.progress[data-status=done]', { timeout: 20_000 });
    expect(await page.locator('table.items tbody tr[data-status=succeeded]').count()).toBe(3);
    for (const instanceId of instances.slice(1, 4)) await console_.world.endsAt(instanceId, 'done');

    // Delivered, and the audit entries name alice and the console.
    await page.goto(`${console_.url}/psi/instances/${instances[1]}`);
    const replayed = page.locator('table.timeline tr[data-kind=replayed]');
    expect(await replayed.textContent()).toContain(
      'by alice (console): confirmation store is back',
    );
    expect(await page.locator('table.timeline tr[data-kind=delivered]').count()).toBe(1);
    await page.click('header nav >> text=Audit');
    expect(
      await page.locator('table.audit tbody tr[data-kind=replayed] td.actor').allTextContents(),
    ).toEqual(['alice', 'alice', 'alice', 'alice']);
    await context.close();
  });

  it('a reader sees everything but cannot act: no buttons, and the server refuses the POST', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await logIn(page, console_, 'rita');
    const [letter] = (await console_.world.h.coordinator.operations.deadLetters()).items;
    await page.goto(`${console_.url}/psi/dead-letters/${letter.id}`);
    expect(await page.locator('h2:has-text("Payload")').count()).toBe(1);
    expect(await page.locator('form.act, button[data-action]').count()).toBe(0);
    await page.goto(`${console_.url}/psi/dead-letters`);
    expect(await page.locator('form.bulk').count()).toBe(0);
    // A POST with the reader's own session and a valid token for her: still refused.
    const response = await page.request.post(`${console_.url}/psi/actions/submit`, {
      form: {
        _csrf: (await csrfOf(page)) ?? '',
        action: 'replay',
        ids: letter.id,
        operatorReason: 'sneaky',
      },
    });
    expect(response.status()).toBe(403);
    expect(await response.json()).toMatchObject({ code: 'PSI_CONSOLE_FORBIDDEN' });
    expect((await console_.world.h.coordinator.operations.operations()).length).toBe(0);
    await context.close();
  });

  it("refuses a POST without a CSRF token, with another user's token, or from another site", async () => {
    const reader = await browser.newContext();
    const readerPage = await reader.newPage();
    await logIn(readerPage, console_, 'rita');
    const ritasToken = (await csrfOf(readerPage)) ?? '';
    const context = await browser.newContext();
    const page = await context.newPage();
    await logIn(page, console_, 'alice');
    const [letter] = (await console_.world.h.coordinator.operations.deadLetters()).items;
    const submit = (form: Record<string, string>, headers: Record<string, string> = {}) =>
      page.request.post(`${console_.url}/psi/actions/submit`, {
        form: { action: 'replay', ids: letter.id, operatorReason: 'test', ...form },
        headers,
      });
    for (const response of [
      await submit({}),
      await submit({ _csrf: ritasToken }),
      await submit({ _csrf: 'garbage' }),
      await submit({ _csrf: (await csrfOf(page)) ?? '' }, { origin: 'http://evil.example' }),
    ]) {
      expect(response.status()).toBe(403);
      expect(await response.json()).toMatchObject({ code: 'PSI_CONSOLE_CSRF' });
    }
    expect((await console_.world.h.coordinator.operations.operations()).length).toBe(0);
    // With her own token it goes through.
    const ok = await submit({ _csrf: (await csrfOf(page)) ?? '' });
    expect(ok.status()).toBe(200); // the redirect to the run's page, followed
    expect((await console_.world.h.coordinator.operations.operations()).length).toBe(1);
    await context.close();
    await reader.close();
  });
});

if (screenshots) fs.mkdirSync(screenshots, { recursive: true });
