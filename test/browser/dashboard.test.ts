/**
 * The merchant dashboard in a real browser (Debian's chromium through playwright-core) against a real
 * stack: Temporal dev server, worker, simulator. A merchant signs up, sees the empty overview, starts a
 * payment through the API with a key, watches it appear and settle on the payments list, opens its
 * timeline (read back from the workflow history) and exports CSV. Screenshots of the overview, a payment
 * and the settings page at 390×844 and 1280×800 go to test-artifacts/screenshots/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { simulatorChannelInput } from '../../src/admin/dev-bootstrap';
import { createChannel, DEVELOPMENT_CHANNEL_POLICY } from '../../src/platform/channels';
import { createApiKey, OPERATOR } from '../../src/platform/keys';
import { launchChromium } from '../helpers/browser';
import { type Stack, startStack } from '../helpers/stack';

const SHOTS = path.resolve(__dirname, '..', '..', 'test-artifacts', 'screenshots');
const LONG = 60_000;
const VIEWPORTS = [
  { name: 'phone', width: 390, height: 844 },
  { name: 'desktop', width: 1280, height: 800 },
] as const;

describe('the merchant dashboard in chromium', () => {
  let s: Stack;
  let browser: Browser;
  let context: BrowserContext;
  const consoleErrors: string[] = [];

  before(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    s = await startStack();
    browser = await launchChromium();
    context = await browser.newContext({
      viewport: VIEWPORTS[1],
      deviceScaleFactor: 1,
      acceptDownloads: true,
    });
    context.setDefaultTimeout(LONG);
  });
  after(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await s?.stop();
  });

  const watch = (page: Page) => {
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
  };

  /** Both viewports; at the phone width nothing may overflow sideways. */
  async function shoot(page: Page, name: string): Promise<void> {
    for (const v of VIEWPORTS) {
      await page.setViewportSize({ width: v.width, height: v.height });
      await page.screenshot({ path: path.join(SHOTS, `${name}-${v.width}x${v.height}.png`), fullPage: true });
      if (v.name === 'phone') {
        const width = await page.evaluate<number>('document.documentElement.scrollWidth');
        assert.ok(width <= v.width, `${name} is ${width}px wide at ${v.width}px`);
      }
    }
  }

  it('signs up, watches an API payment settle, reads its timeline and exports CSV', async () => {
    const page = await context.newPage();
    watch(page);
    await page.goto(`${s.url}/dashboard/signup`);
    await shoot(page, 'signup');
    await page.setViewportSize(VIEWPORTS[1]);
    await page.getByLabel('Business name').fill('Mama Mboga Groceries');
    await page.getByLabel('Email').fill('owner@mamamboga.co.ke');
    await page.getByLabel('Password').fill('sukuma wiki 2026');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByText('No payments yet').waitFor();
    assert.equal(await page.locator('#business').textContent(), 'Mama Mboga Groceries');
    assert.equal((await page.locator('#today-volume b').textContent())?.trim(), 'KES 0');
    await page.screenshot({ path: path.join(SHOTS, 'overview-empty-1280x800.png'), fullPage: true });

    // the merchant's integration: a simulator channel and a test key, then a payment over the API
    const merchant = await s.db
      .selectFrom('merchants')
      .select('id')
      .where('name', '=', 'Mama Mboga Groceries')
      .executeTakeFirstOrThrow();
    await createChannel(
      s.db,
      s.secretBox,
      merchant.id,
      simulatorChannelInput(`${s.url}/sandbox/daraja`),
      {
        actor: 'test',
      },
      DEVELOPMENT_CHANNEL_POLICY,
    );
    const key = await createApiKey(
      s.db,
      s.secretBox,
      { merchantId: merchant.id, environment: 'test', scopes: ['payments:create', 'payments:read'] },
      { actor: 'test' },
      OPERATOR,
    );
    const started = await s.request('POST', '/v1/payments/stk-push', {
      key: key.key,
      body: { phone: '0708374149', amount: 1250, reference: 'ORDER-7', description: 'Weekly basket' },
    });
    assert.equal(started.status, 202, started.text);
    const paymentId: string = started.body.id;

    // it appears on the list, and settles (the simulator's test number pays at once)
    await page.getByRole('link', { name: 'Payments', exact: true }).click();
    await page.getByRole('heading', { name: 'Payments' }).waitFor();
    const row = page.locator(`tr[data-payment-id="${paymentId}"]`);
    for (let i = 0; (await row.getAttribute('data-status').catch(() => null)) !== 'success'; i++) {
      assert.ok(i < 120, 'the payment settles on the list');
      await new Promise((r) => setTimeout(r, 500));
      await page.reload();
    }
    assert.match((await row.textContent()) ?? '', /KES 1,250/);

    // the overview counts it
    await page.getByRole('link', { name: 'Overview' }).first().click();
    assert.equal((await page.locator('#today-volume b').textContent())?.trim(), 'KES 1,250');
    assert.equal((await page.locator('#today-rate b').textContent())?.trim(), '100%');
    await shoot(page, 'overview');

    // its timeline: from the database and the workflow history
    await page.getByRole('link', { name: 'Payments', exact: true }).click();
    await page.locator(`tr[data-payment-id="${paymentId}"] a`).click();
    await page.getByRole('heading', { name: 'Timeline' }).waitFor();
    const types = await page
      .locator('#timeline > li')
      .evaluateAll((lis) => lis.map((li) => li.getAttribute('data-type')));
    assert.equal(types[0], 'created');
    assert.ok(types.includes('initiation'), types.join(','));
    assert.ok(types.includes('callback') || types.includes('stk_query'), types.join(','));
    assert.ok(types.includes('status'), types.join(','));
    const text = (await page.locator('#timeline').textContent()) ?? '';
    assert.match(text, /Daraja accepted the STK push/);
    assert.match(text, /ws_CO_/);
    const temporalLink = await page.locator('#temporal-link').getAttribute('href');
    assert.equal(temporalLink, `http://127.0.0.1:8233/namespaces/default/workflows/${paymentId}`);
    await shoot(page, 'payment');

    // CSV export of the list
    await page.getByRole('link', { name: 'All payments' }).click();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: /Export CSV/ }).click(),
    ]);
    const file = await download.path();
    const csv = fs.readFileSync(file!, 'utf8').trimEnd().split('\r\n');
    assert.equal(csv.length, 2);
    assert.match(
      csv[1]!,
      new RegExp(`^${paymentId},.*,success,1250,KES,254708374149,ORDER-7,Weekly basket,`),
    );
    assert.match(download.suggestedFilename(), /^payments-test-\d{4}-\d{2}-\d{2}\.csv$/);

    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Change password' }).waitFor();
    await shoot(page, 'settings');

    // the live toggle works without script too: a form post
    await page.setViewportSize(VIEWPORTS[1]);
    await page.getByRole('button', { name: 'Live' }).click();
    await page.getByText('Live data: real money.').waitFor();
    await page.getByRole('link', { name: 'Overview' }).first().click();
    await page.getByText('No payments yet').waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to Malipo' }).waitFor();
    await shoot(page, 'signed-out');
    assert.deepEqual(consoleErrors, [], 'no CSP violations or script errors');
    await page.close();
  });
});
