/**
 * The dashboard's overview and payments pages over HTTP (PGlite and PostgreSQL): stats and the SVG chart,
 * the list's filters, search and cursor pages, the CSV export, a payment's detail with its timeline and
 * Temporal UI link, tenancy on every page and mutation, and a viewer refused by the API's scope rule.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DatabaseHandle } from '../../src/db';
import { newId } from '../../src/domain/ids';
import { testDatabases } from '../helpers/db';
import { DashboardClient, seedPayment } from '../helpers/dashboard';
import { startTestApp, type TestApp } from '../helpers/http';

const PASSWORD = 'correct horse battery';
let seq = 0;
const email = (n: string) => `${n}.${++seq}.${Date.now()}@example.co.ke`;

for (const database of testDatabases()) {
  describe(`dashboard payments pages on ${database.name}`, () => {
    let handle: DatabaseHandle;
    let t: TestApp;

    before(async () => {
      handle = await database.open();
      t = await startTestApp({ db: handle });
    });
    after(async () => {
      await t.close();
      await handle.close();
    });

    async function shop(name: string): Promise<{ c: DashboardClient; merchantId: string }> {
      const c = new DashboardClient(t.url);
      const r = await c.signUp(email('o'), PASSWORD, name);
      assert.equal(r.status, 303, r.text);
      const m = await t.db
        .selectFrom('merchants')
        .select('id')
        .where('name', '=', name)
        .executeTakeFirstOrThrow();
      return { c, merchantId: m.id };
    }

    it('shows an empty overview, then the day’s totals, the open counts and a 30-bar SVG chart', async () => {
      const { c, merchantId } = await shop('Overview Shop');
      const empty = await c.get('/dashboard/overview');
      assert.equal(empty.status, 200);
      assert.match(empty.text, /No payments yet/);
      assert.match(empty.text, /id="today-volume"><small>Today, received<\/small><b>KES 0<\/b>/);
      assert.equal((empty.text.match(/<rect class="bar"/g) ?? []).length, 30);

      await seedPayment(t, merchantId, { amount: 1500, reference: 'ORDER-1' });
      await seedPayment(t, merchantId, { amount: 2500, reference: 'ORDER-2' });
      await seedPayment(t, merchantId, { status: 'failed', amount: 40, reference: 'ORDER-3' });
      await seedPayment(t, merchantId, { status: 'pending', amount: 40, reference: 'ORDER-4' });
      const page = await c.get('/dashboard/overview');
      assert.match(page.text, /id="today-volume"><small>Today, received<\/small><b>KES 4,000<\/b>/);
      assert.match(page.text, /id="today-count"><small>Today, payments<\/small><b>4<\/b>/);
      assert.match(page.text, /id="today-rate"><small>Today, success rate<\/small><b>66.7%<\/b>/);
      assert.match(
        page.text,
        /id="open-pending" href="\/dashboard\/payments\?status=pending"><small>Pending now<\/small><b>1<\/b>/,
      );
      assert.match(page.text, /ORDER-2/);
      assert.match(
        page.text,
        /<svg viewBox="0 0 300 100" preserveAspectRatio="none" role="img" aria-label="Daily volume for the last 30 days, KES 4,000 in total"/,
      );
    });

    it('filters, searches and pages the list through the API, and exports the same filters as CSV', async () => {
      const { c, merchantId } = await shop('List Shop');
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) {
        ids.push(
          await seedPayment(t, merchantId, {
            amount: 10 + i,
            reference: i % 2 ? 'ODD' : 'EVEN',
            status: i === 7 ? 'failed' : 'success',
            receipt: i === 7 ? null : `RCP${String(i).padStart(7, '0')}`,
            createdAt: new Date(Date.now() - (30 - i) * 60_000),
          }),
        );
      }
      const first = await c.get('/dashboard/payments');
      assert.equal(first.status, 200);
      assert.equal((first.text.match(/<tr data-payment-id=/g) ?? []).length, 25);
      const next = /href="([^"]+)" rel="next"/.exec(first.text)?.[1]?.replace(/&amp;/g, '&');
      assert.ok(next, 'an Older link');
      const second = await c.get(next);
      assert.equal((second.text.match(/<tr data-payment-id=/g) ?? []).length, 5);
      assert.match(second.text, /← Newest/);
      assert.doesNotMatch(second.text, /rel="next"/);

      const failed = await c.get('/dashboard/payments?status=failed');
      assert.equal((failed.text.match(/<tr data-payment-id=/g) ?? []).length, 1);
      assert.match(failed.text, new RegExp(`data-payment-id="${ids[7]}"`));
      const odd = await c.get('/dashboard/payments?reference=ODD');
      assert.equal((odd.text.match(/<tr data-payment-id=/g) ?? []).length, 15);
      const byReceipt = await c.get('/dashboard/payments?search=rcp0000012');
      assert.match(byReceipt.text, new RegExp(`data-payment-id="${ids[12]}"`));
      assert.equal((byReceipt.text.match(/<tr data-payment-id=/g) ?? []).length, 1);
      const today = new Date(Date.now() + 3 * 3600_000).toISOString().slice(0, 10);
      const dated = await c.get(`/dashboard/payments?from=${today}&to=${today}`);
      assert.ok((dated.text.match(/<tr data-payment-id=/g) ?? []).length > 0);
      const future = await c.get('/dashboard/payments?from=2099-01-01');
      assert.match(future.text, /No payments match these filters/);
      const badPhone = await c.get('/dashboard/payments?phone=12');
      assert.equal(badPhone.status, 400);
      assert.match(badPhone.text, /id="phone-error"/);

      const csv = await c.get('/dashboard/payments/export.csv?reference=ODD');
      assert.equal(csv.status, 200);
      assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
      assert.match(csv.headers.get('content-disposition') ?? '', /^attachment/);
      assert.equal(csv.text.trimEnd().split('\r\n').length, 16);
      assert.match(first.text, /href="\/dashboard\/payments\/export.csv"/);
      assert.match(odd.text, /href="\/dashboard\/payments\/export.csv\?reference=ODD"/);
    });

    it('shows a payment with its request ids, timeline and Temporal UI link', async () => {
      const { c, merchantId } = await shop('Detail Shop');
      const id = await seedPayment(t, merchantId, { amount: 700, reference: 'DET-1' });
      await t.db
        .updateTable('payments')
        .set({ merchant_request_id: '29115-34620561-1', checkout_request_id: 'ws_CO_191220191020363925' })
        .where('id', '=', id)
        .execute();
      await t.db
        .insertInto('events')
        .values({
          id: newId('event'),
          merchant_id: merchantId,
          environment: 'test',
          type: 'payment.success',
          payment_id: id,
          payment_version: 3,
          body: '{}',
        })
        .execute();
      const page = await c.get(`/dashboard/payments/${id}`);
      assert.equal(page.status, 200, page.text);
      assert.match(page.text, /ws_CO_191220191020363925/);
      assert.match(page.text, /29115-34620561-1/);
      assert.match(page.text, /<li data-type="created">/);
      assert.match(page.text, /<li data-type="status">.*Status changed: payment.success/s);
      assert.match(
        page.text,
        new RegExp(`id="temporal-link" href="http://127.0.0.1:8233/namespaces/default/workflows/${id}"`),
      );
      assert.match(page.text, /could not be read just now/); // the test app's Temporal stand-in has no history
      assert.match(page.text, /Redeliver webhook/);
      assert.equal((await c.get('/dashboard/payments/pay_doesnotexist000000000')).status, 404);
    });

    it("never shows or acts on another merchant's payment", async () => {
      const a = await shop('Tenant A');
      const b = await shop('Tenant B');
      const bPay = await seedPayment(t, b.merchantId, { reference: 'SECRET-B', receipt: 'SECRETRCPT' });
      const bEvent = newId('event');
      await t.db
        .insertInto('events')
        .values({
          id: bEvent,
          merchant_id: b.merchantId,
          environment: 'test',
          type: 'payment.success',
          payment_id: bPay,
          payment_version: 2,
          body: '{}',
        })
        .execute();
      const detail = await a.c.get(`/dashboard/payments/${bPay}`);
      assert.equal(detail.status, 404);
      assert.doesNotMatch(detail.text, /SECRET-B/);
      assert.doesNotMatch((await a.c.get('/dashboard/payments')).text, /SECRET-B/);
      assert.doesNotMatch((await a.c.get(`/dashboard/payments?search=${bPay}`)).text, /SECRET-B/);
      assert.doesNotMatch((await a.c.get('/dashboard/payments?search=SECRETRCPT')).text, /SECRET-B/);
      assert.doesNotMatch((await a.c.get('/dashboard/payments/export.csv')).text, /SECRET-B/);
      assert.doesNotMatch((await a.c.get('/dashboard/overview')).text, /SECRET-B/);
      await a.c.get('/dashboard/payments');
      const redeliver = await a.c.post(`/dashboard/payments/${bPay}/redeliver`, { eventId: bEvent });
      assert.equal(redeliver.status, 404);
      // and an own payment cannot be used to redeliver someone else's event
      const aPay = await seedPayment(t, a.merchantId, {});
      const crossed = await a.c.post(`/dashboard/payments/${aPay}/redeliver`, { eventId: bEvent });
      assert.equal(crossed.status, 404);
      const audits = await t.db
        .selectFrom('audit_log')
        .select('id')
        .where('action', '=', 'event.redeliver')
        .where('target_id', '=', bEvent)
        .execute();
      assert.equal(audits.length, 0);
    });

    it('a viewer reads payments but redelivering is refused with MISSING_SCOPE; the owner may', async () => {
      const owner = await shop('Roles Shop');
      const pay = await seedPayment(t, owner.merchantId, { reference: 'ROLE-1' });
      const evt = newId('event');
      await t.db
        .insertInto('events')
        .values({
          id: evt,
          merchant_id: owner.merchantId,
          environment: 'test',
          type: 'payment.success',
          payment_id: pay,
          payment_version: 2,
          body: JSON.stringify({ id: evt }),
        })
        .execute();
      const inv = await owner.c.submit('/dashboard/settings', '/dashboard/settings/invite', {
        email: email('v'),
        role: 'viewer',
      });
      const link = new URL(/id="invite-link">([^<]+)</.exec(inv.text)![1]!).pathname;
      const viewer = new DashboardClient(t.url);
      await viewer.get(link);
      assert.equal((await viewer.post(link, { password: 'a viewer password' })).status, 303);

      const page = await viewer.get(`/dashboard/payments/${pay}`);
      assert.equal(page.status, 200);
      assert.doesNotMatch(page.text, /Redeliver webhook/); // not offered
      const refused = await viewer.post(`/dashboard/payments/${pay}/redeliver`, { eventId: evt });
      assert.equal(refused.status, 403);
      assert.match(refused.text, /data-code="MISSING_SCOPE"/);
      assert.match(refused.text, /webhooks:manage/);

      const ok = await owner.c.submit(`/dashboard/payments/${pay}`, `/dashboard/payments/${pay}/redeliver`, {
        eventId: evt,
      });
      assert.equal(ok.status, 303, ok.text);
      const after = await owner.c.get(`/dashboard/payments/${pay}`);
      assert.match(after.text, /no current webhook target|Redelivery started/);
      const audit = await t.db
        .selectFrom('audit_log')
        .select('actor')
        .where('action', '=', 'event.redeliver')
        .where('target_id', '=', evt)
        .executeTakeFirstOrThrow();
      assert.match(audit.actor, /^usr_/);
    });
  });
}
