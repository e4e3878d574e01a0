/**
 * The dashboard's payment-link and payout pages over HTTP (the real app, PGlite and PostgreSQL, a real
 * Temporal dev server for payout creation, no worker): create/edit/disable links with their QR code and
 * stats, GET /v1/payment-links/:id/stats, payouts with the confirmation step and its Idempotency-Key,
 * tenant isolation on every page and POST, viewers refused by the API's scope rule, CSRF on every POST.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import QRCode from 'qrcode';
import { hashPassword } from '../../src/accounts/passwords';
import type { Role } from '../../src/accounts/roles';
import { addMembership, insertUser } from '../../src/accounts/users';
import type { DatabaseHandle } from '../../src/db';
import { newId } from '../../src/domain/ids';
import { DashboardClient, type PageResponse } from '../helpers/dashboard';
import { testDatabases } from '../helpers/db';
import { expectEnvelope, expectSecured, startTestApp, type TestApp } from '../helpers/http';
import { devServer } from '../helpers/temporal';

const PASSWORD = 'correct horse battery';
let seq = 0;
const email = (name: string) => `${name}.${++seq}.${Date.now()}@example.co.ke`;

interface Shop {
  id: string;
  owner: DashboardClient;
  channelId: string;
}

/** The fields of the form with this id (hidden inputs, in order). */
function formFields(text: string, formId: string): Record<string, string> {
  const start = text.indexOf(`id="${formId}"`);
  assert.ok(start >= 0, `form ${formId} on the page`);
  const form = text.slice(start, text.indexOf('</form>', start));
  const out: Record<string, string> = {};
  for (const m of form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    if (m[1] !== '_csrf')
      out[m[1]!] = m[2]!
        .replace(/&amp;/g, '&')
        .replace(/&quot;/g, '"')
        .replace(/&#39;/g, "'");
  }
  return out;
}

const errorOf = (r: PageResponse, fieldName: string) =>
  new RegExp(`id="${fieldName}-error">([^<]*)<`).exec(r.text)?.[1];

let temporalEnv: TestWorkflowEnvironment;
before(async () => {
  temporalEnv = await devServer();
});
after(async () => {
  await temporalEnv?.teardown();
});

for (const database of testDatabases()) {
  describe(`dashboard links and payouts on ${database.name}`, () => {
    let handle: DatabaseHandle;
    let t: TestApp;
    let clock: number | undefined;

    before(async () => {
      handle = await database.open();
      t = await startTestApp({
        db: handle,
        temporal: temporalEnv.client,
        rateLimit: { now: () => clock ?? Date.now() },
        env: { MALIPO_RATE_LIMIT_CREATE_PER_MINUTE: '100000', MALIPO_RATE_LIMIT_PER_MINUTE: '100000' },
      });
    });
    after(async () => {
      await t.close();
      await handle.close();
    });

    async function shop(name: string): Promise<Shop> {
      const owner = new DashboardClient(t.url);
      const r = await owner.signUp(email('owner'), PASSWORD, name);
      assert.equal(r.status, 303, r.text);
      const id = (
        await t.db.selectFrom('merchants').select('id').where('name', '=', name).executeTakeFirstOrThrow()
      ).id;
      const ch = await t.channel(id, {
        shortcode: '600000',
        initiatorName: 'testapi',
        initiatorPassword: 'Safaricom999!*!',
      });
      return { id, owner, channelId: ch.id };
    }

    async function member(merchantId: string, role: Role): Promise<DashboardClient> {
      const mail = email(role);
      const user = await insertUser(t.db, mail, await hashPassword(PASSWORD));
      await addMembership(t.db, { userId: user.id, merchantId, role }, 'test');
      const c = new DashboardClient(t.url);
      assert.equal((await c.logIn(mail, PASSWORD)).status, 303);
      return c;
    }

    async function createLink(s: Shop, form: Record<string, string>): Promise<string> {
      const r = await s.owner.submit('/dashboard/links/new', '/dashboard/links', form);
      assert.equal(r.status, 303, r.text);
      const m = /^\/dashboard\/links\/(lnk_[0-9A-Za-z]+)$/.exec(r.location ?? '');
      assert.ok(m, r.location ?? '');
      return m[1]!;
    }

    async function insertLinkPayment(
      merchantId: string,
      linkId: string,
      status: 'pending' | 'success' | 'failed' | 'needs_review',
      amount: number,
      environment: 'test' | 'live' = 'test',
    ) {
      await t.db
        .insertInto('payments')
        .values({
          id: newId('payment'),
          merchant_id: merchantId,
          environment,
          channel_id: 'ch_x',
          status,
          amount,
          phone: '254708374149',
          reference: 'LINK',
          description: 'link payment',
          link_id: linkId,
          mpesa_receipt:
            status === 'success' ? `R${Math.random().toString(36).slice(2, 11).toUpperCase()}` : null,
        })
        .execute();
    }

    const payoutCount = async (merchantId: string) =>
      Number(
        (
          await t.db
            .selectFrom('payouts')
            .select((e) => e.fn.countAll().as('n'))
            .where('merchant_id', '=', merchantId)
            .executeTakeFirstOrThrow()
        ).n,
      );

    it('links: an empty state, then create, list, page with URL, copy button, QR code and stats', async () => {
      const s = await shop('Links Shop');
      const empty = await s.owner.get('/dashboard/links');
      assert.equal(empty.status, 200);
      assert.match(empty.text, /No payment links yet/);
      assert.match(empty.text, /href="\/dashboard\/links\/new"/);

      const id = await createLink(s, {
        title: 'Order 1042 <b>',
        amount: '1,500',
        reference: 'ORD-1042',
        description: 'Fresh vegetables',
        expiresOn: '',
        maxPayments: '',
      });
      const page = await s.owner.get(`/dashboard/links/${id}`);
      assert.equal(page.status, 200);
      assert.match(page.text, /created\. Share its URL or QR code/); // the flash
      assert.match(page.text, /<h1>Order 1042 &lt;b&gt;<\/h1>/);
      const url = `${t.config.publicUrl}/pay/${id}`;
      assert.match(page.text, new RegExp(`<span class="mono" id="link-url">${url}</span>`)); // plain text
      assert.match(page.text, new RegExp(`class="copy" data-copy="${url}" hidden>Copy URL`));
      assert.match(
        page.text,
        new RegExp(`<img class="qr" src="/dashboard/links/${id}/qr.svg"[^>]* alt="QR code of ${url}">`),
      );
      assert.match(page.text, /KES 1,500/);
      assert.match(page.text, /data-stat="payments">0</);
      assert.match(page.text, /data-stat="conversion">–</);
      assert.match(page.text, /No payments yet/);
      assert.doesNotMatch(page.text, /<script>|style=/);

      // the QR code is the link's URL, an SVG from this origin (the page's CSP allows img-src 'self')
      const qr = await s.owner.get(`/dashboard/links/${id}/qr.svg`);
      assert.equal(qr.status, 200);
      assert.match(qr.headers.get('content-type') ?? '', /^image\/svg\+xml/);
      assert.match(qr.text, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      const expected = await QRCode.toString(url, {
        type: 'svg',
        errorCorrectionLevel: 'M',
        margin: 2,
        color: { dark: '#000000', light: '#ffffff' },
      });
      assert.equal(qr.text, expected);
      const other = await QRCode.toString(`${t.config.publicUrl}/pay/lnk_somethingElse123`, {
        type: 'svg',
        margin: 2,
      });
      assert.notEqual(qr.text, other);
      const download = await s.owner.get(`/dashboard/links/${id}/qr.svg?download=1`);
      assert.match(
        download.headers.get('content-disposition') ?? '',
        new RegExp(`attachment; filename="${id}.svg"`),
      );

      // stats from the new route, shown on the page and in the list
      await insertLinkPayment(s.id, id, 'success', 1500);
      await insertLinkPayment(s.id, id, 'success', 1500);
      await insertLinkPayment(s.id, id, 'pending', 1500);
      await insertLinkPayment(s.id, id, 'failed', 1500);
      const withStats = await s.owner.get(`/dashboard/links/${id}`);
      assert.match(withStats.text, /data-stat="payments">4</);
      assert.match(withStats.text, /data-stat="paid">2</);
      assert.match(withStats.text, /data-stat="paidAmount">KES 3,000</);
      assert.match(withStats.text, /data-stat="pending">1</);
      assert.match(withStats.text, /data-stat="conversion">50%</);
      assert.equal((withStats.text.match(/data-payment-id="pay_/g) ?? []).length, 4);
      const list = await s.owner.get('/dashboard/links');
      assert.match(
        list.text,
        new RegExp(`data-link-id="${id}"><td><a href="/dashboard/links/${id}">Order 1042 &lt;b&gt;</a>`),
      );
      assert.match(list.text, /2 of 4/);
      assert.match(list.text, /KES 3,000/);
    });

    it('links: errors re-render the form with each field’s message and what was typed', async () => {
      const s = await shop('Errors Shop');
      await s.owner.get('/dashboard/links/new');
      const noTitle = await s.owner.post('/dashboard/links', { title: ' ', amount: '500' });
      assert.equal(noTitle.status, 400);
      assert.equal(errorOf(noTitle, 'title'), 'title must not be empty');
      assert.match(noTitle.text, /id="title"[^>]*aria-invalid="true"/);
      assert.match(noTitle.text, /name="amount" type="text" value="500"/);

      const badAmount = await s.owner.post('/dashboard/links', { title: 'X', amount: '12.50' });
      assert.equal(badAmount.status, 400);
      assert.equal(errorOf(badAmount, 'amount'), 'Enter whole KES, digits only, e.g. 1500');
      const both = await s.owner.post('/dashboard/links', { title: 'X', amount: '10', amountMin: '5' });
      assert.equal(errorOf(both, 'amount'), 'Give either a fixed amount or a range, not both');
      const none = await s.owner.post('/dashboard/links', { title: 'X' });
      assert.equal(errorOf(none, 'amount'), 'Enter the amount, or a minimum and a maximum');
      const range = await s.owner.post('/dashboard/links', {
        title: 'X',
        amountMin: '500',
        amountMax: '100',
      });
      assert.equal(errorOf(range, 'amountMax'), 'Must not be below the minimum');
      const big = await s.owner.post('/dashboard/links', { title: 'X', amount: '250001' });
      assert.equal(errorOf(big, 'amount'), 'M-Pesa takes at most KES 250,000');
      // the API's own rules, with its messages
      const ref = await s.owner.post('/dashboard/links', { title: 'X', amount: '10', reference: 'bad!ref' });
      assert.equal(ref.status, 400);
      assert.equal(
        errorOf(ref, 'reference'),
        'reference may contain only letters, digits, spaces, dot, dash and underscore',
      );
      const logo = await s.owner.post('/dashboard/links', {
        title: 'X',
        amount: '10',
        logoUrl: 'http://x.example/l.png',
      });
      assert.equal(errorOf(logo, 'logoUrl'), 'must be an https URL');
      const past = await s.owner.post('/dashboard/links', {
        title: 'X',
        amount: '10',
        expiresOn: '2020-01-01',
      });
      assert.equal(errorOf(past, 'expiresOn'), 'must be in the future');
      const count = await t.db
        .selectFrom('payment_links')
        .select('id')
        .where('merchant_id', '=', s.id)
        .execute();
      assert.equal(count.length, 0, 'nothing was created');
    });

    it('links: edit, disable after a confirmation page, enable again', async () => {
      const s = await shop('Edit Shop');
      const id = await createLink(s, { title: 'Donation', amount: '100' });
      const edit = await s.owner.get(`/dashboard/links/${id}/edit`);
      assert.equal(edit.status, 200);
      assert.match(edit.text, /name="title" type="text" value="Donation"/);
      assert.match(edit.text, /name="amount" type="text" value="100"/);

      const bad = await s.owner.post(`/dashboard/links/${id}/edit`, { title: 'Donation', amountMin: '50' });
      assert.equal(bad.status, 400);
      assert.equal(errorOf(bad, 'amountMax'), 'Enter the largest amount the customer may pay');
      const saved = await s.owner.post(`/dashboard/links/${id}/edit`, {
        title: 'Harambee',
        amountMin: '50',
        amountMax: '5000',
        reference: 'HARAMBEE',
        description: '',
        expiresOn: '2099-12-31',
        maxPayments: '3',
      });
      assert.equal(saved.status, 303, saved.text);
      const api = await t.db
        .selectFrom('payment_links')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      assert.equal(api.title, 'Harambee');
      assert.equal(api.amount, null);
      assert.equal(api.amount_min, 50);
      assert.equal(api.amount_max, 5000);
      assert.equal(api.max_payments, 3);
      assert.equal(new Date(api.expires_at!).toISOString(), '2099-12-31T20:59:59.000Z'); // end of the day, Nairobi
      const shown = await s.owner.get(`/dashboard/links/${id}`);
      assert.match(shown.text, /KES 50 – KES 5,000/);
      // saving again with the same last day leaves it alone
      const again = await s.owner.post(`/dashboard/links/${id}/edit`, {
        title: 'Harambee 2',
        amountMin: '50',
        amountMax: '5000',
        expiresOn: '2099-12-31',
        maxPayments: '',
      });
      assert.equal(again.status, 303, again.text);
      const row2 = await t.db
        .selectFrom('payment_links')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      assert.equal(row2.max_payments, null, 'an empty field clears the limit');
      assert.equal(new Date(row2.expires_at!).toISOString(), '2099-12-31T20:59:59.000Z');

      // the confirmation page changes nothing; its form does
      const ask = await s.owner.get(`/dashboard/links/${id}/disable`);
      assert.equal(ask.status, 200);
      assert.match(ask.text, /<h1>Disable Harambee 2\?<\/h1>/);
      assert.match(ask.text, new RegExp(`action="/dashboard/links/${id}/disable"`));
      assert.equal((await fetch(`${t.url}/pay/${id}`)).status, 200);
      const off = await s.owner.post(`/dashboard/links/${id}/disable`, {});
      assert.equal(off.status, 303);
      const offPage = await s.owner.get(`/dashboard/links/${id}`);
      assert.match(offPage.text, /is disabled: its page takes no more payments/);
      assert.match(offPage.text, /<span class="badge disabled">disabled<\/span>/);
      assert.equal((await fetch(`${t.url}/pay/${id}`)).status, 410);
      const on = await s.owner.post(`/dashboard/links/${id}/enable`, {});
      assert.equal(on.status, 303);
      assert.equal((await fetch(`${t.url}/pay/${id}`)).status, 200);
    });

    it('links: the list is paginated newest first', async () => {
      const s = await shop('Many Links Shop');
      const m = await t.key(s.id, ['links:manage']);
      for (let i = 1; i <= 21; i++) {
        const r = await t.request('POST', '/v1/payment-links', {
          key: m.key,
          body: { title: `Link ${i}`, amount: 10 },
        });
        assert.equal(r.status, 201, r.text);
      }
      const first = await s.owner.get('/dashboard/links');
      assert.equal((first.text.match(/data-link-id=/g) ?? []).length, 20);
      assert.match(first.text, />Link 21</);
      assert.doesNotMatch(first.text, />Link 1</);
      const older = /href="(\/dashboard\/links\?cursor=[^"]+)" rel="next"/.exec(first.text)?.[1];
      assert.ok(older, 'an Older link');
      const second = await s.owner.get(older.replace(/&amp;/g, '&'));
      assert.equal((second.text.match(/data-link-id=/g) ?? []).length, 1);
      assert.match(second.text, />Link 1</);
      assert.match(second.text, /← Newest/);
    });

    it('GET /v1/payment-links/:id/stats aggregates the link’s payments, for its merchant and environment only', async () => {
      const a = await t.merchant('Stats A');
      const b = await t.merchant('Stats B');
      const created = await t.request('POST', '/v1/payment-links', {
        key: a.key,
        body: { title: 'Stats', amount: 200 },
      });
      const id = created.body.id as string;
      const other = await t.request('POST', '/v1/payment-links', {
        key: a.key,
        body: { title: 'Other', amount: 200 },
      });

      const zero = await t.request('GET', `/v1/payment-links/${id}/stats`, { key: a.key });
      assert.equal(zero.status, 200, zero.text);
      assert.deepEqual(zero.body, {
        object: 'payment_link_stats',
        linkId: id,
        payments: 0,
        paid: 0,
        paidAmount: 0,
        pending: 0,
        failed: 0,
        needsReview: 0,
        conversion: null,
        lastPaidAt: null,
      });

      await insertLinkPayment(a.id, id, 'success', 200);
      await insertLinkPayment(a.id, id, 'success', 350);
      await insertLinkPayment(a.id, id, 'pending', 200);
      await insertLinkPayment(a.id, id, 'failed', 200);
      await insertLinkPayment(a.id, id, 'failed', 200);
      await insertLinkPayment(a.id, id, 'needs_review', 200);
      // not this link's: another link, and rows of another environment or merchant carrying its id
      await insertLinkPayment(a.id, other.body.id, 'success', 9999);
      await insertLinkPayment(a.id, id, 'success', 7777, 'live');
      await insertLinkPayment(b.id, id, 'success', 8888);

      const r = await t.request('GET', `/v1/payment-links/${id}/stats`, { key: a.key });
      assert.equal(r.status, 200, r.text);
      const { lastPaidAt, ...rest } = r.body;
      assert.deepEqual(rest, {
        object: 'payment_link_stats',
        linkId: id,
        payments: 6,
        paid: 2,
        paidAmount: 550,
        pending: 1,
        failed: 2,
        needsReview: 1,
        conversion: 0.3333,
      });
      assert.ok(Math.abs(Date.parse(lastPaidAt) - Date.now()) < 60_000, lastPaidAt);

      // another merchant's link, another environment's key, an unknown or malformed id
      expectEnvelope(
        await t.request('GET', `/v1/payment-links/${id}/stats`, { key: b.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      const live = await t.key(a.id, ['links:manage'], { env: 'live' });
      expectEnvelope(
        await t.request('GET', `/v1/payment-links/${id}/stats`, { key: live.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expectEnvelope(
        await t.request('GET', '/v1/payment-links/lnk_000000000000000000000000/stats', { key: a.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expectEnvelope(
        await t.request('GET', '/v1/payment-links/nope/stats', { key: a.key }),
        400,
        'VALIDATION_ERROR',
      );
      await expectSecured(t, a.id, {
        method: 'GET',
        path: `/v1/payment-links/${id}/stats`,
        scope: 'links:manage',
      });
      // in the OpenAPI document
      const doc = await t.request('GET', '/openapi.json');
      assert.ok(doc.body.paths['/v1/payment-links/{id}/stats']?.get);
    });

    it('payouts: the first POST only asks; the confirm POST pays once, however often it is sent', async () => {
      const s = await shop('Payout Shop');
      const empty = await s.owner.get('/dashboard/payouts');
      assert.match(empty.text, /No payouts yet/);
      await s.owner.get('/dashboard/payouts/new');
      const form = {
        phone: '0708 374 149',
        amount: '1,500',
        commandId: 'SalaryPayment',
        remarks: 'December salary',
        occasion: '',
        reference: 'SAL-DEC-7',
      };
      const ask = await s.owner.post('/dashboard/payouts/new', form);
      assert.equal(ask.status, 200, ask.text);
      assert.match(
        ask.text,
        /Send <strong id="confirm-amount">KES 1,500<\/strong> to <strong class="mono" id="confirm-phone">254708374149<\/strong>\?/,
      );
      assert.equal(await payoutCount(s.id), 0, 'the first step sends nothing');
      const confirm = formFields(ask.text, 'payout-confirm-form');
      assert.match(confirm.key ?? '', /^dash_[A-Za-z0-9_-]{32}$/);
      assert.equal(confirm.amount, '1500');
      assert.equal(confirm.phone, '254708374149');

      // "Change" goes back to the form with the values
      const { key: _k, sig: _s, issuedAt: _i, ...values } = confirm;
      const change = await s.owner.post('/dashboard/payouts/new', { ...values, edit: '1' });
      assert.equal(change.status, 200);
      assert.match(change.text, /id="payout-form"/);
      assert.match(change.text, /name="remarks" type="text" value="December salary"/);
      assert.equal(await payoutCount(s.id), 0);

      // a confirm form whose amount was changed is refused
      const tampered = await s.owner.post('/dashboard/payouts/confirm', { ...confirm, amount: '15000' });
      assert.equal(tampered.status, 400);
      assert.match(tampered.text, /does not match the payout it was made for: nothing was sent/);
      assert.equal(await payoutCount(s.id), 0);

      const sent = await s.owner.post('/dashboard/payouts/confirm', confirm);
      assert.equal(sent.status, 303, sent.text);
      const m = /^\/dashboard\/payouts\/(po_[0-9A-Za-z]+)$/.exec(sent.location ?? '');
      assert.ok(m, sent.location ?? '');
      const payoutId = m[1]!;
      assert.equal(await payoutCount(s.id), 1);
      // a double click, a reload, a resent form: the same payout
      const [twice, thrice] = await Promise.all([
        s.owner.post('/dashboard/payouts/confirm', confirm),
        s.owner.post('/dashboard/payouts/confirm', confirm),
      ]);
      for (const r of [twice, thrice]) {
        assert.equal(r.status, 303, r.text);
        assert.equal(r.location, `/dashboard/payouts/${payoutId}`);
      }
      assert.equal(await payoutCount(s.id), 1);
      const page = await s.owner.get(`/dashboard/payouts/${payoutId}`);
      assert.equal(page.status, 200);
      assert.match(page.text, /This payout was already sent: KES 1,500 to 254708374149/);
      assert.match(page.text, /id="payout-status"><span class="badge pending">pending/);
      // the payout row is what was confirmed
      const row = await t.db
        .selectFrom('payouts')
        .selectAll()
        .where('id', '=', payoutId)
        .executeTakeFirstOrThrow();
      assert.equal(row.amount, 1500);
      assert.equal(row.phone, '254708374149');
      assert.equal(row.command_id, 'SalaryPayment');
      assert.equal(row.reference, 'SAL-DEC-7');
      assert.equal(
        row.api_key_id,
        (
          await t.db
            .selectFrom('memberships')
            .select('user_id')
            .where('merchant_id', '=', s.id)
            .executeTakeFirstOrThrow()
        ).user_id,
      );
      // and its workflow started on Temporal, once
      const desc = await temporalEnv.client.workflow.getHandle(payoutId).describe();
      assert.equal(desc.type, 'b2cPayout');

      // a double click on a fresh confirmation: both POSTs race, one payout
      const askRace = await s.owner.post('/dashboard/payouts/new', { ...form, reference: 'SAL-DEC-RACE' });
      const race = formFields(askRace.text, 'payout-confirm-form');
      const raced = await Promise.all([
        s.owner.post('/dashboard/payouts/confirm', race),
        s.owner.post('/dashboard/payouts/confirm', race),
      ]);
      for (const r of raced) {
        assert.equal(r.status, 303, r.text);
        assert.match(r.location ?? '', /^\/dashboard\/payouts(\/po_|\?reference=SAL-DEC-RACE$)/);
      }
      const racedRows = await t.db
        .selectFrom('payouts')
        .select('id')
        .where('merchant_id', '=', s.id)
        .where('reference', '=', 'SAL-DEC-RACE')
        .execute();
      assert.equal(racedRows.length, 1);
      assert.equal(await payoutCount(s.id), 2);

      // a new confirmation (a new key) is another payout, as the person asked twice
      const ask2 = await s.owner.post('/dashboard/payouts/new', form);
      const confirm2 = formFields(ask2.text, 'payout-confirm-form');
      assert.notEqual(confirm2.key, confirm.key);
      assert.equal((await s.owner.post('/dashboard/payouts/confirm', confirm2)).status, 303);
      assert.equal(await payoutCount(s.id), 3);

      // the settled payout's page: status, Daraja's ids, result and receipt
      await t.db
        .updateTable('payouts')
        .set({
          status: 'success',
          conversation_id: 'AG_20261202_0000abc',
          originator_conversation_id: payoutId,
          mpesa_receipt: 'TL2AB3CD4E',
          receiver_name: '254708374149 - John Doe',
          result_code: '0',
          result_desc: 'The service request is processed successfully.',
          settled_at: new Date(),
        })
        .where('id', '=', payoutId)
        .execute();
      const settled = await s.owner.get(`/dashboard/payouts/${payoutId}`);
      assert.match(settled.text, /<span class="badge success">success/);
      assert.match(settled.text, /id="payout-receipt">TL2AB3CD4E</);
      assert.match(settled.text, /id="payout-conversation">AG_20261202_0000abc</);
      assert.match(settled.text, /id="payout-result">0: The service request is processed successfully\.</);
      assert.match(settled.text, /id="payout-phone">254708374149</);

      // the list and its filters
      const list = await s.owner.get('/dashboard/payouts');
      assert.equal((list.text.match(/data-payout-id=/g) ?? []).length, 3);
      const ok = await s.owner.get('/dashboard/payouts?status=success');
      assert.deepEqual(
        [...ok.text.matchAll(/data-payout-id="([^"]+)"/g)].map((x) => x[1]),
        [payoutId],
      );
      const byPhone = await s.owner.get('/dashboard/payouts?phone=0711000000');
      assert.match(byPhone.text, /No payouts match these filters/);
      const badPhone = await s.owner.get('/dashboard/payouts?phone=12');
      assert.equal(badPhone.status, 200);
      assert.ok(errorOf(badPhone, 'phone'), 'the phone filter shows the API’s message');
    });

    it('payouts: errors re-render the form with each field’s message, and nothing is sent', async () => {
      const s = await shop('Payout Errors Shop');
      await s.owner.get('/dashboard/payouts/new');
      const r = await s.owner.post('/dashboard/payouts/new', {
        phone: '0812 345',
        amount: '5',
        commandId: 'BusinessPayment',
        remarks: 'x',
        reference: 'has space',
      });
      assert.equal(r.status, 400);
      assert.match(errorOf(r, 'phone') ?? '', /^phone must/);
      assert.equal(errorOf(r, 'amount'), 'A payout must be at least KES 10');
      assert.equal(errorOf(r, 'remarks'), 'remarks must be at least 2 characters');
      assert.equal(
        errorOf(r, 'reference'),
        'reference may contain only letters, digits, dot, dash and underscore',
      );
      assert.match(r.text, /name="phone" type="tel" value="0812 345"/);
      const cents = await s.owner.post('/dashboard/payouts/new', {
        phone: '0708374149',
        amount: '10.5',
        remarks: 'ok ok',
        reference: 'R1',
      });
      assert.equal(errorOf(cents, 'amount'), 'Enter whole KES, digits only, e.g. 500');
      // an expired confirmation sends nothing
      const ask = await s.owner.post('/dashboard/payouts/new', {
        phone: '0708374149',
        amount: '100',
        remarks: 'ok ok',
        reference: 'R2',
      });
      const confirm = formFields(ask.text, 'payout-confirm-form');
      const moved = await s.owner.post('/dashboard/payouts/confirm', {
        ...confirm,
        issuedAt: new Date().toISOString(),
      });
      assert.equal(moved.status, 400); // the signature covers issuedAt
      assert.match(moved.text, /does not match/);
      clock = Date.now() + 31 * 60_000;
      try {
        const stale = await s.owner.post('/dashboard/payouts/confirm', confirm);
        assert.equal(stale.status, 400);
        assert.match(stale.text, /This confirmation has expired: nothing was sent/);
      } finally {
        clock = undefined;
      }
      assert.equal(await payoutCount(s.id), 0);
      assert.equal((await s.owner.post('/dashboard/payouts/confirm', confirm)).status, 303);
      assert.equal(await payoutCount(s.id), 1);
    });

    it("a session of merchant A never sees or changes merchant B's links or payouts", async () => {
      const a = await shop('Isolation A');
      const b = await shop('Isolation B');
      const bLink = await createLink(b, { title: 'B secret link', amount: '700' });
      await b.owner.get('/dashboard/payouts/new');
      const bAsk = await b.owner.post('/dashboard/payouts/new', {
        phone: '0708374149',
        amount: '100',
        remarks: 'B payout',
        reference: 'B-PAYOUT',
      });
      const bConfirm = formFields(bAsk.text, 'payout-confirm-form');
      const bSent = await b.owner.post('/dashboard/payouts/confirm', bConfirm);
      const bPayout = bSent.location!.split('/').pop()!;
      const before = await t.db
        .selectFrom('payment_links')
        .selectAll()
        .where('id', '=', bLink)
        .executeTakeFirstOrThrow();

      const aList = await a.owner.get('/dashboard/links');
      assert.doesNotMatch(aList.text, /B secret link/);
      for (const path of [
        `/dashboard/links/${bLink}`,
        `/dashboard/links/${bLink}/qr.svg`,
        `/dashboard/links/${bLink}/edit`,
        `/dashboard/links/${bLink}/disable`,
        `/dashboard/payouts/${bPayout}`,
      ]) {
        const r = await a.owner.get(path);
        assert.equal(r.status, 404, path);
        assert.match(r.text, /data-code="RESOURCE_NOT_FOUND"/, path);
        assert.doesNotMatch(r.text, /B secret link|B-PAYOUT/, path);
      }
      await a.owner.get('/dashboard/links');
      for (const [path, form] of [
        [`/dashboard/links/${bLink}/edit`, { title: 'Taken over', amount: '1' }],
        [`/dashboard/links/${bLink}/disable`, {}],
        [`/dashboard/links/${bLink}/enable`, {}],
      ] as const) {
        const r = await a.owner.post(path, form);
        assert.equal(r.status, 404, path);
      }
      const afterRow = await t.db
        .selectFrom('payment_links')
        .selectAll()
        .where('id', '=', bLink)
        .executeTakeFirstOrThrow();
      assert.deepEqual(afterRow, before);
      const aPayouts = await a.owner.get('/dashboard/payouts');
      assert.doesNotMatch(aPayouts.text, /B-PAYOUT/);
      assert.match(aPayouts.text, /No payouts yet/);
      // B's confirm form, replayed in A's session, is not A's (the HMAC is keyed by B's session)
      const replayed = await a.owner.post('/dashboard/payouts/confirm', bConfirm);
      assert.equal(replayed.status, 400);
      assert.equal(await payoutCount(a.id), 0);
      assert.equal(await payoutCount(b.id), 1);
      // A's own link stats page does not count B's payments
      const aLink = await createLink(a, { title: 'A link', amount: '700' });
      await insertLinkPayment(b.id, aLink, 'success', 700);
      assert.match((await a.owner.get(`/dashboard/links/${aLink}`)).text, /data-stat="payments">0</);
    });

    it('a viewer reads payouts but cannot mutate: 403 MISSING_SCOPE from the API rule', async () => {
      const s = await shop('Viewer Money Shop');
      const id = await createLink(s, { title: 'Owner link', amount: '100' });
      const viewer = await member(s.id, 'viewer');
      const links = await viewer.get('/dashboard/links');
      assert.equal(links.status, 403);
      assert.match(links.text, /data-code="MISSING_SCOPE"/);
      assert.match(links.text, /links:manage/);
      const payouts = await viewer.get('/dashboard/payouts');
      assert.equal(payouts.status, 200);
      assert.doesNotMatch(payouts.text, /New payout/);
      assert.equal((await viewer.get('/dashboard/payouts/new')).status, 403);
      for (const [path, form] of [
        ['/dashboard/links', { title: 'Viewer link', amount: '10' }],
        [`/dashboard/links/${id}/edit`, { title: 'Viewer edit', amount: '10' }],
        [`/dashboard/links/${id}/disable`, {}],
        [`/dashboard/links/${id}/enable`, {}],
        ['/dashboard/payouts/new', { phone: '0708374149', amount: '100', remarks: 'ok ok', reference: 'V1' }],
        [
          '/dashboard/payouts/confirm',
          {
            phone: '0708374149',
            amount: '100',
            remarks: 'ok ok',
            reference: 'V1',
            key: `dash_${'a'.repeat(32)}`,
            issuedAt: new Date().toISOString(),
            sig: 'x',
          },
        ],
      ] as const) {
        const r = await viewer.post(path, form);
        assert.equal(r.status, 403, path);
        assert.match(r.text, /data-code="MISSING_SCOPE"/, path);
      }
      const row = await t.db
        .selectFrom('payment_links')
        .select(['title', 'status'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      assert.deepEqual(row, { title: 'Owner link', status: 'active' });
      assert.equal(await payoutCount(s.id), 0);
      // a developer may
      const dev = await member(s.id, 'developer');
      assert.equal((await dev.submit('/dashboard/links', `/dashboard/links/${id}/disable`, {})).status, 303);
    });

    it('refuses every new POST without the CSRF token', async () => {
      const s = await shop('Csrf Money Shop');
      const id = await createLink(s, { title: 'Csrf link', amount: '100' });
      await s.owner.get('/dashboard/payouts/new');
      const ask = await s.owner.post('/dashboard/payouts/new', {
        phone: '0708374149',
        amount: '100',
        remarks: 'ok ok',
        reference: 'C1',
      });
      const confirm = formFields(ask.text, 'payout-confirm-form');
      for (const [path, form] of [
        ['/dashboard/links', { title: 'No token', amount: '10' }],
        [`/dashboard/links/${id}/edit`, { title: 'No token', amount: '10' }],
        [`/dashboard/links/${id}/disable`, {}],
        [`/dashboard/links/${id}/enable`, {}],
        ['/dashboard/payouts/new', { phone: '0708374149', amount: '100', remarks: 'ok ok', reference: 'C1' }],
        ['/dashboard/payouts/confirm', confirm],
      ] as const) {
        const r = await s.owner.post(path, { ...form, _csrf: null });
        assert.equal(r.status, 403, path);
        assert.match(r.text, /data-code="FORBIDDEN"/, path);
      }
      assert.equal(await payoutCount(s.id), 0);
      const rows = await t.db
        .selectFrom('payment_links')
        .select(['title', 'status'])
        .where('merchant_id', '=', s.id)
        .execute();
      assert.deepEqual(rows, [{ title: 'Csrf link', status: 'active' }]);
    });
  });
}
