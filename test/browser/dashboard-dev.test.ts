/**
 * The dashboard's developer pages in a real browser (Debian's chromium through playwright-core) against
 * a real stack (Temporal dev server, worker, simulator at /sandbox): a new merchant signs up, adds a
 * simulator channel and tests it with Daraja, creates an API key (read once, copied), registers a
 * webhook endpoint on a local receiver, pays through the API with the new key, sees the event and its
 * delivery, redelivers it, then rotates and revokes the key. Screenshots of the keys page at phone and
 * desktop widths go to test-artifacts/screenshots/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { DEFAULT_APP } from '../../src/sandbox';
import { type Receiver, startReceiver } from '../helpers/sandbox';
import { launchChromium } from '../helpers/browser';
import { eventually, type Stack, startStack } from '../helpers/stack';

const ARTIFACTS = path.resolve(__dirname, '..', '..', 'test-artifacts', 'screenshots');
const LONG = 60_000;

describe('the developer pages of the dashboard in chromium', () => {
  let s: Stack;
  let receiver: Receiver;
  let browser: Browser;
  let context: BrowserContext;

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    s = await startStack();
    receiver = await startReceiver();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
    context.setDefaultTimeout(LONG);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: s.url });
  });
  after(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await receiver?.close();
    await s?.stop();
  });

  const nav = (page: Page, name: string) =>
    page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name }).click();
  const flash = (page: Page) => page.locator('.flash').first().textContent();

  it('signs up, adds and tests a channel, makes a key and an endpoint, pays, redelivers, rotates and revokes', async () => {
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(String(e)));
    const visited = new Set<string>();
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) visited.add(f.url());
    });
    // the rotate form asks first (data-confirm)
    page.on('dialog', (d) => void d.accept());

    // sign up
    await page.goto(`${s.url}/dashboard/signup`);
    await page.getByLabel('Business name', { exact: true }).fill('Duka la Wanjiru');
    await page.getByLabel('Email', { exact: true }).fill(`wanjiru.${Date.now()}@example.co.ke`);
    await page.getByLabel('Password', { exact: true }).fill('a long enough password');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();

    // a simulator channel, tested against the built-in simulator
    await nav(page, 'Channels');
    await page.getByText('No test channels yet').waitFor();
    await page.getByRole('link', { name: 'Add a channel' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Simulator paybill');
    await page.getByLabel('Type', { exact: true }).selectOption('paybill');
    await page.getByLabel('Shortcode', { exact: true }).fill(DEFAULT_APP.shortcode);
    await page.getByLabel('Daraja environment', { exact: true }).selectOption('simulator');
    await page.getByLabel('Daraja base URL', { exact: true }).fill(`${s.url}/sandbox/daraja`);
    await page.getByLabel('Passkey', { exact: true }).fill(DEFAULT_APP.passkey);
    await page.getByLabel('Consumer key', { exact: true }).fill(DEFAULT_APP.consumerKey);
    await page.getByLabel('Consumer secret', { exact: true }).fill(DEFAULT_APP.consumerSecret);
    await page.getByRole('button', { name: 'Create channel' }).click();
    await page.getByRole('heading', { name: 'Simulator paybill' }).waitFor();
    assert.match((await flash(page)) ?? '', /Channel Simulator paybill created/);
    await page.getByRole('button', { name: 'Test with Daraja' }).click();
    await page.getByText('Test passed: Daraja accepted the consumer key and secret.').waitFor();
    assert.equal(
      await page.getByLabel('Consumer secret', { exact: true }).inputValue(),
      '',
      'never shown again',
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'channel-390.png'), fullPage: true });

    // an API key, read once from the page and from the copy button
    await nav(page, 'Keys');
    await page.getByText('No test keys yet').waitFor();
    await page.getByRole('link', { name: 'Create a key' }).click();
    await page.getByLabel('Label', { exact: true }).fill('Shop backend');
    await page.getByRole('checkbox', { name: /^payments:create/ }).check();
    await page.getByRole('checkbox', { name: /^payments:read/ }).check();
    await page.getByRole('checkbox', { name: /^webhooks:manage/ }).check();
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('heading', { name: 'Key created' }).waitFor();
    const key = ((await page.locator('#new-key').textContent()) ?? '').trim();
    assert.match(key, /^mlp_test_[A-Za-z0-9_-]+$/);
    assert.match(((await page.locator('#new-webhook-secret').textContent()) ?? '').trim(), /^whsec_/);
    const copy = page.locator('#new-key ~ button');
    assert.equal(await copy.getAttribute('aria-describedby'), 'new-key-label');
    await copy.click();
    await page.locator('#new-key ~ button', { hasText: 'Copied' }).waitFor();
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), key);
    await page.screenshot({ path: path.join(ARTIFACTS, 'keys-created-390.png'), fullPage: true });
    await page.getByRole('link', { name: 'Back to the keys' }).click();
    await page.getByRole('link', { name: 'Shop backend' }).waitFor();
    assert.equal(await page.getByText(key).count(), 0, 'the key is shown once only');

    // a webhook endpoint on a local receiver
    await nav(page, 'Webhooks');
    await page.getByRole('link', { name: 'Add an endpoint' }).click();
    await page.getByLabel('Endpoint URL', { exact: true }).fill(`${receiver.url}/hooks/malipo`);
    await page.getByRole('checkbox', { name: /Every event/ }).check();
    await page.getByLabel('Description', { exact: true }).fill('orders service');
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await page.getByRole('heading', { name: 'Endpoint added' }).waitFor();
    assert.match(((await page.locator('#new-endpoint-secret').textContent()) ?? '').trim(), /^whsec_/);

    // a payment through the API with the new key (the simulator's 254700000000 pays at once)
    const pay = await s.request('POST', '/v1/payments/stk-push', {
      key,
      body: { phone: '254700000000', amount: 10, reference: 'DASH-1' },
    });
    assert.equal(pay.status, 202, pay.text);
    const paid = await s.waitForStatus(pay.body.id, undefined, 90_000, key);
    assert.equal(paid.status, 'success');
    const hooks = () => receiver.received.filter((r) => r.path === '/hooks/malipo');
    await eventually(() => (hooks().length >= 1 ? true : undefined), 60_000, 'the first delivery');
    const eventId = (hooks()[0]!.body as { id: string }).id;

    // the event in the log, its delivery, and a redelivery
    await nav(page, 'Webhooks');
    await page.getByRole('link', { name: 'Event log' }).click();
    await page.getByRole('link', { name: eventId }).click();
    await page.getByRole('heading', { name: 'Event' }).waitFor();
    await page.getByText('payment.success').first().waitFor();
    await eventually(
      async () => {
        await page.reload();
        return (await page.locator('.delivery .badge.success').count()) > 0 ? true : undefined;
      },
      30_000,
      'the delivery shown as succeeded',
      500,
    );
    assert.equal(await page.locator('.delivery').count(), 1);
    await page.getByRole('button', { name: 'Redeliver' }).click();
    await page.getByText('Redelivery started: 1 delivery.').waitFor();
    await eventually(() => (hooks().length >= 2 ? true : undefined), 60_000, 'the redelivery');
    assert.equal((hooks()[1]!.body as { id: string }).id, eventId, 'the same event again');
    await page.reload();
    assert.equal(await page.locator('.delivery').count(), 2);
    await page.getByText('redelivery 1').waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'event-390.png'), fullPage: true });

    // rotate the key at once, then revoke the new one
    await nav(page, 'Keys');
    await page.getByRole('link', { name: 'Shop backend' }).click();
    await page.getByLabel('Keep the old key working for', { exact: true }).selectOption('0');
    await page.getByRole('button', { name: 'Rotate key' }).click();
    await page.getByRole('heading', { name: 'Key rotated' }).waitFor();
    const rotated = ((await page.locator('#new-key').textContent()) ?? '').trim();
    assert.notEqual(rotated, key);
    assert.equal((await s.request('GET', '/v1/payments', { key })).status, 401, 'the old key stops at once');
    assert.equal((await s.request('GET', '/v1/payments', { key: rotated })).status, 200);

    await page.getByRole('link', { name: 'Back to the keys' }).click();
    // the list: the rotated key (revoked) and its replacement (active), newest first
    const rows = page.locator('#keys tbody tr');
    assert.equal(await rows.count(), 2);
    await rows.first().getByRole('link', { name: 'Shop backend' }).click();
    await page.getByRole('link', { name: 'Revoke key…' }).click();
    await page.getByRole('heading', { name: 'Revoke this key?' }).waitFor();
    await page.getByRole('button', { name: 'Revoke key' }).click();
    await page.getByText(/is revoked\./).waitFor();
    assert.equal((await s.request('GET', '/v1/payments', { key: rotated })).status, 401);

    // one more key, read-only and expiring, so the list shows each state
    await nav(page, 'Keys');
    await page.getByRole('link', { name: 'Create a key' }).click();
    await page.getByLabel('Label', { exact: true }).fill('Reporting');
    await page.getByRole('checkbox', { name: /^payments:read/ }).check();
    await page.getByLabel('Expires on', { exact: true }).fill('2099-06-30');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('heading', { name: 'Key created' }).waitFor();

    // the keys page at phone and desktop widths
    await nav(page, 'Keys');
    await page.locator('#keys').waitFor();
    assert.equal(await page.locator('#keys tbody tr').count(), 3);
    await page.screenshot({ path: path.join(ARTIFACTS, 'keys-390x844.png'), fullPage: true });
    const fits = await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth');
    assert.ok(fits, 'no sideways scrolling on a 390 px phone');
    // every page this test saw, again at 390 px: none scrolls sideways
    const wide: string[] = [];
    const seen = problems.length;
    for (const url of visited) {
      const res = await page.goto(url);
      if (res?.status() !== 200) continue; // the address of a form's answer, which has no GET page
      if (!(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'))) wide.push(url);
    }
    // the skipped answers' 404s are the only console errors this loop may cause
    const extra = problems.splice(seen);
    problems.push(...extra.filter((m) => !/status of 404/.test(m)));
    assert.ok(visited.size >= 15, `${visited.size} pages seen`);
    assert.deepEqual(wide, [], 'pages wider than a 390 px phone');
    await nav(page, 'Keys');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'keys-1280x800.png'), fullPage: true });

    // keyboard: the first tab stop is the skip link, and it moves focus to the content
    await page.keyboard.press('Tab');
    assert.equal(
      await page.evaluate('document.activeElement && document.activeElement.textContent'),
      'Skip to content',
    );

    assert.deepEqual(problems, [], 'no console errors (a CSP violation would be one)');
    await page.close();
  });
});
