/**
 * The dashboard's money pages in a real browser (Debian's chromium through playwright-core) against a
 * real stack: Temporal dev server, worker, simulator at /sandbox. A merchant's owner signs in, creates a
 * payment link, pays it on its pay page (approving on the simulator's handset page), sees the link's
 * stats and the payment, then sends a payout through the confirmation step and sees it settle, and
 * opens the team page.
 * Screenshots go to test-artifacts/screenshots/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { hashPassword } from '../../src/accounts/passwords';
import { addMembership, insertUser } from '../../src/accounts/users';
import { launchChromium } from '../helpers/browser';
import { type Stack, startStack } from '../helpers/stack';

const ARTIFACTS = path.resolve(__dirname, '..', '..', 'test-artifacts', 'screenshots');
const LONG = 60_000;
const EMAIL = 'owner@mama-mboga.example';
const PASSWORD = 'a long owner password';

describe('the dashboard money pages in chromium', () => {
  let s: Stack;
  let browser: Browser;
  let context: BrowserContext;
  const consoleErrors: string[] = [];

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    s = await startStack();
    const user = await insertUser(s.db, EMAIL, await hashPassword(PASSWORD));
    await addMembership(s.db, { userId: user.id, merchantId: s.merchantId, role: 'owner' }, 'test');
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
    context.setDefaultTimeout(LONG);
  });
  after(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await s?.stop();
  });

  const watch = (page: Page) => {
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
  };

  async function shoot(page: Page, name: string) {
    for (const [w, h] of [
      [390, 844],
      [1280, 800],
    ] as const) {
      await page.setViewportSize({ width: w, height: h });
      await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${w}x${h}.png`), fullPage: true });
      // nothing wider than the screen, but for the tables' own scroll boxes
      const overflow = Number(
        await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'),
      );
      assert.ok(overflow <= 0, `${name} at ${w} px scrolls sideways by ${overflow} px`);
    }
    await page.setViewportSize({ width: 390, height: 844 });
  }

  it('creates a link, pays it on its page, and sees the stats and the payment', async () => {
    const page = await context.newPage();
    watch(page);
    await page.goto(`${s.url}/dashboard/links`);
    // signed out: to the sign-in page, then back
    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Payment links', level: 1 }).waitFor();
    await page.getByText('No payment links yet').waitFor();

    await page.getByRole('link', { name: 'New payment link' }).click();
    await page.getByLabel('Title').fill('Order 1042 · Mama Mboga');
    await page.getByLabel('Fixed amount (KES)').fill('250');
    await page.getByLabel('Reference (optional)').fill('ORDER-1042');
    // keyboard: the form is sent with Enter
    await page.getByLabel('Reference (optional)').press('Enter');
    await page.getByRole('heading', { name: 'Order 1042 · Mama Mboga', level: 1 }).waitFor();
    await page.getByText('created. Share its URL or QR code').waitFor();
    const url = ((await page.locator('#link-url').textContent()) ?? '').trim();
    assert.match(url, new RegExp(`^${s.url}/pay/lnk_[0-9A-Za-z]{22}$`));
    // the copy button appears with the script, and copies the URL
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: s.url });
    await page.getByRole('button', { name: 'Copy URL' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), url);
    // the QR code loads under the page's CSP
    const qrWidth = await page.evaluate(
      "(() => { const i = document.querySelector('img.qr'); return i && i.complete ? i.naturalWidth : 0; })()",
    );
    assert.ok(Number(qrWidth) > 0, 'the QR code image loaded');

    // a customer pays on the link's page
    const pay = await context.newPage();
    watch(pay);
    await pay.goto(url);
    const msisdn = s.freshPhone();
    await pay.getByLabel('M-Pesa phone number').fill(`0${msisdn.slice(3)}`);
    await pay.getByRole('button', { name: 'Pay with M-Pesa' }).click();
    await pay.getByRole('heading', { name: 'Check your phone' }).waitFor();
    const handset = await context.newPage();
    await handset.goto(`${s.url}/sandbox/phone/${msisdn}`);
    const pin = handset.getByLabel('M-PESA PIN');
    for (let i = 0; !(await pin.count()); i++) {
      assert.ok(i < 60, 'the prompt reached the handset');
      await new Promise((r) => setTimeout(r, 500));
      await handset.reload();
    }
    await pin.fill('1234');
    await handset.getByRole('button', { name: 'Pay' }).click();
    await handset.getByText('Paid. The merchant will be told.').waitFor();
    await handset.close();
    await pay.getByRole('heading', { name: 'Payment received' }).waitFor({ timeout: 90_000 });
    const receipt = ((await pay.locator('#receipt').textContent()) ?? '').trim();
    await pay.close();

    // the link's page: its stats and the payment
    await page.bringToFront();
    await page.reload();
    assert.equal(await page.locator('[data-stat="payments"]').textContent(), '1');
    assert.equal(await page.locator('[data-stat="paid"]').textContent(), '1');
    assert.equal(await page.locator('[data-stat="paidAmount"]').textContent(), 'KES 250');
    assert.equal(await page.locator('[data-stat="conversion"]').textContent(), '100%');
    const row = page.locator('#link-payments tbody tr');
    assert.equal(await row.count(), 1);
    assert.match((await row.textContent()) ?? '', new RegExp(`success.*KES 250.*${receipt}`));
    await shoot(page, 'link');

    // a second link, so the list has more than one row; then the list
    await page.goto(`${s.url}/dashboard/links/new`);
    await page.getByLabel('Title').fill('Harambee for the school roof');
    await page.getByLabel('Minimum', { exact: true }).fill('50');
    await page.getByLabel('Maximum', { exact: true }).fill('10000');
    await page.getByRole('button', { name: 'Create link' }).click();
    await page.getByRole('heading', { name: 'Harambee for the school roof', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'Links', exact: true }).click();
    await page.getByRole('heading', { name: 'Payment links', level: 1 }).waitFor();
    const listed = page.locator('#links tbody tr');
    assert.equal(await listed.count(), 2);
    assert.match((await listed.nth(1).textContent()) ?? '', /1 of 1.*KES 250/);
    await shoot(page, 'links');

    // disabling asks first
    await page.getByRole('link', { name: 'Order 1042 · Mama Mboga' }).click();
    await page.getByRole('link', { name: 'Disable…' }).click();
    await page.getByRole('heading', { name: 'Disable Order 1042 · Mama Mboga?' }).waitFor();
    await page.getByRole('button', { name: 'Disable the link' }).click();
    await page.getByText('is disabled: its page takes no more payments').waitFor();
    const gone = await context.newPage();
    assert.equal((await gone.goto(url))?.status(), 410);
    await gone.close();
    await page.close();
  });

  it('sends a payout through the confirmation step and sees it settle', async () => {
    const page = await context.newPage();
    watch(page);
    await page.goto(`${s.url}/dashboard/payouts`);
    await page.getByText('No payouts yet').waitFor();
    await page.getByRole('link', { name: 'New payout' }).click();
    await page.getByLabel('Recipient phone number').fill('0708 374 149');
    await page.getByLabel('Amount (KES)').fill('500');
    await page.getByLabel('Kind of payment').selectOption('SalaryPayment');
    await page.getByLabel('Remarks').fill('December salary');
    await page.getByLabel('Your reference').fill('SAL-DEC-1');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Confirm the payout' }).waitFor();
    assert.equal((await page.locator('.confirm-q').textContent())?.trim(), 'Send KES 500 to 254708374149?');
    const none = await s.api('GET', '/v1/payouts');
    assert.deepEqual(none.body.data, [], 'nothing sent before the confirmation');
    await page.screenshot({ path: path.join(ARTIFACTS, 'payout-confirm-390x844.png'), fullPage: true });

    // a double click sends the confirm form twice: one payout, with the same Idempotency-Key
    await page.getByRole('button', { name: 'Send KES 500' }).dblclick();
    await page.waitForURL(/\/dashboard\/payouts(\/po_|\?)/);
    await page.locator('.flash.ok').waitFor();
    const sent = await s.api('GET', '/v1/payouts');
    assert.equal(sent.body.data.length, 1, 'one payout for a double click');
    const payoutId = sent.body.data[0].id as string;
    for (let i = 0; ; i++) {
      await page.goto(`${s.url}/dashboard/payouts/${payoutId}`);
      const status = ((await page.locator('#payout-status').textContent()) ?? '').trim();
      if (status !== 'pending') {
        assert.equal(status, 'success');
        break;
      }
      assert.ok(i < 60, 'the payout settled');
      await new Promise((r) => setTimeout(r, 500));
    }
    const receipt = ((await page.locator('#payout-receipt').textContent()) ?? '').trim();
    assert.match(receipt, /^[A-Z0-9]{10}$/);
    assert.match((await page.locator('#payout-conversation').textContent()) ?? '', /\S/);
    assert.match((await page.locator('#payout-result').textContent()) ?? '', /^0: /);
    await shoot(page, 'payout');
    const all = await s.api('GET', '/v1/payouts');
    assert.equal(all.body.data.length, 1, 'one payout, however the form was resent');
    assert.equal(all.body.data[0].mpesaReceipt, receipt);

    await page.getByRole('link', { name: '← Payouts' }).click();
    assert.equal(await page.locator('#payouts tbody tr').count(), 1);
    await shoot(page, 'payouts');
    // the team page, on a phone and on a desktop
    await page.getByRole('link', { name: 'Team', exact: true }).click();
    await page.getByRole('heading', { name: 'Team', level: 1 }).waitFor();
    await page.getByLabel(`Role of ${EMAIL}`).waitFor();
    await shoot(page, 'team');
    assert.deepEqual(consoleErrors, [], 'no CSP violations or script errors');
    await page.close();
  });
});
