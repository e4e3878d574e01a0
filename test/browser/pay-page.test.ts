/**
 * The hosted pay page in a real browser (Debian's chromium through playwright-core) against a real stack:
 * Temporal dev server, worker, simulator at /sandbox. A customer pays through a link and approves the
 * prompt on the simulator's handset page in a second tab; invalid input shows inline errors; a disabled
 * link shows its page. Screenshots go to test-artifacts/pay-page/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import { launchChromium } from '../helpers/browser';
import { type Stack, startStack } from '../helpers/stack';

const ARTIFACTS = path.resolve(__dirname, '..', '..', 'test-artifacts', 'pay-page');
const LONG = 60_000;

describe('the hosted pay page in chromium', () => {
  let s: Stack;
  let browser: Browser;
  let context: BrowserContext;

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    s = await startStack();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
    context.setDefaultTimeout(LONG);
  });
  after(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await s?.stop();
  });

  async function createLink(body: Record<string, unknown>): Promise<{ id: string; url: string }> {
    const r = await s.api('POST', '/v1/payment-links', body);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.url, `${s.url}/pay/${r.body.id}`);
    return r.body;
  }

  it('a customer pays through a link and sees the receipt', async () => {
    const link = await createLink({
      title: 'Order 1042 · Mama Mboga',
      amount: { min: 10, max: 5000 },
      reference: 'ORDER-1042',
      description: 'Fresh vegetables, delivered Friday.',
    });
    const page = await context.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    const res = await page.goto(link.url);
    assert.equal(res?.status(), 200);
    await page.getByRole('heading', { name: 'Order 1042 · Mama Mboga' }).waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, '1-form.png'), fullPage: true });

    // any Kenyan form of a number the simulator has no scenario for: the customer waits for the handset
    const msisdn = s.freshPhone(); // 25471…
    const typed = `0${msisdn.slice(3, 6)} ${msisdn.slice(6, 9)} ${msisdn.slice(9)}`;
    await page.getByLabel('Amount (KES)').fill('250');
    await page.getByLabel('M-Pesa phone number').fill(typed);
    await page.getByRole('button', { name: 'Pay with M-Pesa' }).click();

    await page.getByRole('heading', { name: 'Check your phone' }).waitFor();
    assert.match(page.url(), new RegExp(`/pay/${link.id}/payments/pay_[0-9A-Za-z]+$`));
    await page.screenshot({ path: path.join(ARTIFACTS, '2-waiting.png'), fullPage: true });
    const paymentId = page.url().split('/').pop()!;

    // the payment is an ordinary one, tagged with the link
    const listed = await s.api('GET', `/v1/payments?linkId=${link.id}`);
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.body.data.map((p: { id: string }) => p.id),
      [paymentId],
    );
    assert.equal(listed.body.data[0].amount, 250);
    assert.equal(listed.body.data[0].phone, msisdn);
    assert.equal(listed.body.data[0].reference, 'ORDER-1042');

    // the customer approves on the handset, in a second tab
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

    // the pay page notices by itself
    await page.bringToFront();
    await page.getByRole('heading', { name: 'Payment received' }).waitFor({ timeout: 90_000 });
    const receipt = (await page.locator('#receipt').textContent())?.trim() ?? '';
    assert.match(receipt, /^[A-Z0-9]{10}$/);
    await page.screenshot({ path: path.join(ARTIFACTS, '3-success.png'), fullPage: true });
    const paid = await s.waitForStatus(paymentId);
    assert.equal(paid.status, 'success');
    assert.equal(paid.mpesaReceipt, receipt);
    assert.equal(paid.linkId, link.id);

    // the public status URL reveals only the state
    const status = await s.request('GET', `/pay/${link.id}/payments/${paymentId}/status`, { key: null });
    assert.deepEqual(status.body, { status: 'success', mpesaReceipt: receipt });

    const stats = await s.api('GET', `/v1/payment-links/${link.id}`);
    assert.deepEqual(stats.body.stats, { payments: 1, successfulPayments: 1, amountCollected: 250 });
    assert.deepEqual(consoleErrors, [], 'no CSP violations or script errors');
    await page.close();
  });

  it('shows inline errors for an invalid phone and an out-of-range amount', async () => {
    const link = await createLink({ title: 'Donation', amount: { min: 50, max: 1000 } });
    const page = await context.newPage();
    await page.goto(link.url);
    await page.getByLabel('Amount (KES)').fill('5000');
    await page.getByLabel('M-Pesa phone number').fill('0812 345');
    await page.getByRole('button', { name: 'Pay with M-Pesa' }).click();
    await page.locator('#phone-error').getByText('Enter a Kenyan mobile number').waitFor();
    await page.locator('#amount-error').getByText('between KES 50 and KES 1,000').waitFor();
    assert.equal(await page.getByLabel('M-Pesa phone number').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByLabel('Amount (KES)').getAttribute('aria-invalid'), 'true');
    assert.equal(
      await page.evaluate('document.activeElement && document.activeElement.id'),
      'amount',
      'focus on the first error',
    );
    assert.match(page.url(), /\/pay\/lnk_[0-9A-Za-z]+$/, 'nothing was sent');
    await page.screenshot({ path: path.join(ARTIFACTS, '4-inline-errors.png'), fullPage: true });
    const listed = await s.api('GET', `/v1/payments?linkId=${link.id}`);
    assert.deepEqual(listed.body.data, []);

    // without JavaScript the server says the same
    const noJs = await browser.newContext({
      javaScriptEnabled: false,
      viewport: { width: 390, height: 844 },
    });
    try {
      const p2 = await noJs.newPage();
      await p2.goto(link.url);
      await p2.getByLabel('Amount (KES)').fill('20');
      await p2.getByLabel('M-Pesa phone number').fill('12345');
      const [resp] = await Promise.all([
        p2.waitForResponse((r) => r.request().method() === 'POST'),
        p2.getByRole('button', { name: 'Pay with M-Pesa' }).click(),
      ]);
      assert.equal(resp.status(), 400);
      await p2.locator('#phone-error').getByText('Enter a Kenyan mobile number').waitFor();
      await p2.locator('#amount-error').getByText('between KES 50 and KES 1,000').waitFor();
      assert.equal(await p2.getByLabel('Amount (KES)').inputValue(), '20', 'what was typed is kept');
    } finally {
      await noJs.close();
    }
    await page.close();
  });

  it('a disabled link shows its page with 410', async () => {
    const link = await createLink({ title: 'Old invoice', amount: 300 });
    const r = await s.api('POST', `/v1/payment-links/${link.id}/disable`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, 'disabled');
    const page = await context.newPage();
    const res = await page.goto(link.url);
    assert.equal(res?.status(), 410);
    await page.getByRole('heading', { name: 'This payment link is no longer active' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Pay with M-Pesa' }).count(), 0);
    await page.screenshot({ path: path.join(ARTIFACTS, '5-disabled.png'), fullPage: true });
    await page.close();
  });
});
