/**
 * GET /v1/reports/summary, GET /v1/reports/payments.csv and GET /v1/payments/:id/timeline over HTTP with
 * an API key (PGlite and PostgreSQL): Nairobi-day totals, the open counts, the 30-day series, tenancy,
 * the streamed CSV with the list's filters, and the timeline from stored rows and a recorded workflow history.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { sql } from 'kysely';
import type { DatabaseHandle } from '../../src/db';
import { newId } from '../../src/domain/ids';
import { historyEntries } from '../../src/http/routes/payment-timeline';
import { csvCell, nairobiMidnight } from '../../src/http/routes/reports';
import { seedPayment } from '../helpers/dashboard';
import { testDatabases } from '../helpers/db';
import {
  expectEnvelope,
  expectSecured,
  startTestApp,
  type TestApp,
  type TestMerchant,
} from '../helpers/http';

const HISTORIES = path.resolve(__dirname, '..', 'workflows', 'histories');
const DAY = 24 * 3600_000;

describe('timeline entries from a recorded workflow history', () => {
  const load = (f: string) =>
    historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES, f), 'utf8'))).events ?? [];

  it('reads the local-activity push answer, the callback signal and the confirming STK query', () => {
    const entries = historyEntries(load('stk-callback-success.json'));
    const types = entries.map((e) => e.type);
    assert.deepEqual(types.filter((x) => x !== 'stk_query').slice(0, 2), ['initiation', 'callback']);
    const init = entries.find((e) => e.type === 'initiation')!;
    assert.match(String(init.details.checkoutRequestId), /^ws_CO_/);
    assert.ok(init.details.merchantRequestId);
    const cb = entries.find((e) => e.type === 'callback')!;
    assert.equal(cb.details.resultCode, '0');
    assert.ok(cb.details.mpesaReceipt);
    assert.ok(entries.every((e) => !Number.isNaN(Date.parse(e.at))));
  });

  it('reads STK queries', () => {
    const q = historyEntries(load('stk-query-success.json'));
    const queries = q.filter((e) => e.type === 'stk_query');
    assert.ok(queries.length >= 1);
    assert.ok(queries.some((e) => e.details.outcome === 'final' && e.details.resultCode === '0'));
  });
});

describe('csv cells', () => {
  it('quotes commas, quotes and newlines, and defuses formulas', () => {
    assert.equal(csvCell(250), '250');
    assert.equal(csvCell(null), '');
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
    assert.equal(csvCell('-1+2'), "'-1+2");
    assert.equal(csvCell('254708374149'), '254708374149');
  });
});

for (const database of testDatabases()) {
  describe(`reports and timeline on ${database.name}`, () => {
    let handle: DatabaseHandle;
    let t: TestApp;
    let m: TestMerchant;
    let other: TestMerchant;
    // a fixed "now": 2026-06-15 10:00 in Nairobi (07:00 UTC)
    const now = Date.parse('2026-06-15T07:00:00Z');

    before(async () => {
      handle = await database.open();
      t = await startTestApp({ db: handle, rateLimit: { now: () => now } });
      m = await t.merchant('Reports');
      other = await t.merchant('Other');
    });
    after(async () => {
      await t.close();
      await handle.close();
    });

    it('nairobiMidnight is 21:00 UTC of the day before', () => {
      assert.equal(
        nairobiMidnight(new Date('2026-06-15T07:00:00Z')).toISOString(),
        '2026-06-14T21:00:00.000Z',
      );
      assert.equal(
        nairobiMidnight(new Date('2026-06-14T21:30:00Z')).toISOString(),
        '2026-06-14T21:00:00.000Z',
      );
      assert.equal(
        nairobiMidnight(new Date('2026-06-14T20:59:59Z')).toISOString(),
        '2026-06-13T21:00:00.000Z',
      );
    });

    it('sums today, 7 and 30 Nairobi days, counts open payments, and sees only its merchant and environment', async () => {
      const at = (iso: string) => new Date(iso);
      // today in Nairobi began at 2026-06-14T21:00Z
      await seedPayment(t, m.id, { amount: 100, createdAt: at('2026-06-14T21:00:00Z') });
      await seedPayment(t, m.id, { amount: 250, createdAt: at('2026-06-15T06:59:00Z') });
      await seedPayment(t, m.id, { status: 'failed', amount: 999, createdAt: at('2026-06-15T05:00:00Z') });
      await seedPayment(t, m.id, { status: 'pending', amount: 50, createdAt: at('2026-06-15T06:00:00Z') });
      // yesterday (Nairobi) although the same UTC date
      await seedPayment(t, m.id, { amount: 1000, createdAt: at('2026-06-14T20:59:00Z') });
      // 6 days ago: in the week; 10 days ago: only in the 30 days; 40 days ago: nowhere
      await seedPayment(t, m.id, { amount: 7, createdAt: at('2026-06-09T09:00:00Z') });
      await seedPayment(t, m.id, {
        status: 'needs_review',
        amount: 5,
        createdAt: at('2026-06-05T09:00:00Z'),
      });
      await seedPayment(t, m.id, { amount: 3000, createdAt: at('2026-06-05T09:00:00Z') });
      await seedPayment(t, m.id, { amount: 9000, createdAt: at('2026-05-05T09:00:00Z') });
      // not ours: another merchant, and our live environment
      await seedPayment(t, other.id, { amount: 77_777, createdAt: at('2026-06-15T06:00:00Z') });
      await seedPayment(t, m.id, {
        amount: 55_555,
        environment: 'live',
        createdAt: at('2026-06-15T06:00:00Z'),
      });

      const r = await t.request('GET', '/v1/reports/summary', { key: m.key });
      assert.equal(r.status, 200, r.text);
      const s = r.body;
      assert.equal(s.timezone, 'Africa/Nairobi');
      assert.deepEqual(s.today, { volume: 350, count: 4, succeeded: 2, failed: 1, successRate: 2 / 3 });
      assert.deepEqual(s.last7Days, { volume: 1357, count: 6, succeeded: 4, failed: 1, successRate: 4 / 5 });
      assert.equal(s.last30Days.volume, 4357);
      assert.equal(s.last30Days.count, 8);
      assert.equal(s.pending, 1);
      assert.equal(s.needsReview, 1);
      assert.equal(s.daily.length, 30);
      assert.equal(s.daily[29].date, '2026-06-15');
      assert.equal(s.daily[28].date, '2026-06-14');
      assert.equal(s.daily[28].volume, 1000);
      assert.equal(s.daily[0].date, '2026-05-17');
      assert.equal(
        s.daily.reduce((n: number, d: { volume: number }) => n + d.volume, 0),
        4357,
      );
      assert.ok(s.daily.every((d: { volume: number }) => Number.isInteger(d.volume)));

      const otherView = await t.request('GET', '/v1/reports/summary', { key: other.key });
      assert.equal(otherView.body.today.volume, 77_777);
      const live = await t.key(m.id, ['payments:read'], { env: 'live' });
      assert.equal(
        (await t.request('GET', '/v1/reports/summary', { key: live.key })).body.today.volume,
        55_555,
      );
      await expectSecured(t, m.id, { method: 'GET', path: '/v1/reports/summary', scope: 'payments:read' });
    });

    it('stays fast over 10,000 payments (one grouped query over the merchant/created range)', async (tc) => {
      const big = await t.merchant('Busy');
      await sql`
        insert into payments (id, merchant_id, environment, channel_id, status, amount, phone, reference, description, created_at)
        select 'pay_bulk' || g, ${big.id}, 'test', 'ch_seed',
               case when g % 10 = 0 then 'failed' else 'success' end, 10 + g % 90, '254708374149', 'BULK', 'bulk',
               ${new Date(now)}::timestamptz - (g % 45) * interval '1 day' - (g % 600) * interval '1 minute'
          from generate_series(1, 10000) g`.execute(t.db);
      await sql`analyze payments`.execute(t.db);
      const started = performance.now();
      const r = await t.request('GET', '/v1/reports/summary', { key: big.key });
      const ms = performance.now() - started;
      assert.equal(r.status, 200);
      // 30 of the 45 day-offsets fall in the window: 10000 * 30 / 45 ≈ 6667 payments (±1 per offset)
      assert.ok(Math.abs(r.body.last30Days.count - 6667) <= 45, String(r.body.last30Days.count));
      tc.diagnostic(`summary over 10,000 payments: ${ms.toFixed(0)} ms`);
      assert.ok(ms < 2000, `summary took ${ms.toFixed(0)} ms`);
    });

    it('exports CSV with the filters of the list, streamed, money as integers and phones as stored', async () => {
      const x = await t.merchant('Csv');
      await seedPayment(t, x.id, {
        amount: 120,
        reference: 'INV-1',
        description: '=cmd|calc',
        createdAt: new Date(now - 3600_000),
      });
      await seedPayment(t, x.id, {
        amount: 80,
        reference: 'INV-2',
        status: 'failed',
        receipt: null,
        createdAt: new Date(now - 7200_000),
      });
      await seedPayment(t, x.id, {
        amount: 45,
        reference: 'INV-1',
        phone: '254112345678',
        description: 'a, "quoted" one',
        createdAt: new Date(now - 2 * DAY),
      });
      await seedPayment(t, other.id, { amount: 1, reference: 'INV-1' });

      const all = await t.request('GET', '/v1/reports/payments.csv', { key: x.key });
      assert.equal(all.status, 200);
      assert.match(all.headers.get('content-type') ?? '', /^text\/csv/);
      assert.match(all.headers.get('content-disposition') ?? '', /attachment; filename="payments-test-/);
      const lines = all.text.trimEnd().split('\r\n');
      assert.equal(
        lines[0],
        'id,created_at,status,amount,currency,phone,reference,description,kind,channel_id,mpesa_receipt,checkout_request_id,merchant_request_id,result_code,result_desc,failure_reason,review_reason,link_id,settled_at',
      );
      assert.equal(lines.length, 4);
      assert.match(lines[1]!, /,success,120,KES,254708374149,INV-1,'=cmd\|calc,stk,/);
      assert.match(lines[3]!, /,45,KES,254112345678,INV-1,"a, ""quoted"" one",/);

      const filtered = await t.request('GET', '/v1/reports/payments.csv?reference=INV-1&status=success', {
        key: x.key,
      });
      assert.equal(filtered.text.trimEnd().split('\r\n').length, 3);
      const byPhone = await t.request('GET', '/v1/reports/payments.csv?phone=0112345678', { key: x.key });
      assert.equal(byPhone.text.trimEnd().split('\r\n').length, 2);
      expectEnvelope(
        await t.request('GET', '/v1/reports/payments.csv?phone=12', { key: x.key }),
        400,
        'INVALID_PHONE_NUMBER',
      );
      expectEnvelope(
        await t.request('GET', '/v1/reports/payments.csv?status=paid', { key: x.key }),
        400,
        'VALIDATION_ERROR',
      );
      await expectSecured(t, x.id, {
        method: 'GET',
        path: '/v1/reports/payments.csv',
        scope: 'payments:read',
      });
    });

    it('exports more than one page (keyset paging through all rows)', async () => {
      const y = await t.merchant('Many');
      await sql`
        insert into payments (id, merchant_id, environment, channel_id, status, amount, phone, reference, description, created_at)
        select 'pay_many' || lpad(g::text, 5, '0'), ${y.id}, 'test', 'ch_seed', 'success', g, '254708374149', 'MANY', 'many',
               ${new Date(now)}::timestamptz - g * interval '1 second'
          from generate_series(1, 1234) g`.execute(t.db);
      const r = await t.request('GET', '/v1/reports/payments.csv', { key: y.key });
      const rows = r.text.trimEnd().split('\r\n').slice(1);
      assert.equal(rows.length, 1234);
      assert.equal(new Set(rows.map((l) => l.split(',')[0])).size, 1234);
      assert.equal(
        rows.map((l) => Number(l.split(',')[3])).reduce((a, b) => a + b, 0),
        (1234 * 1235) / 2,
      );
    });

    it("searches the list by payment id or M-Pesa receipt, within the key's merchant", async () => {
      const z = await t.merchant('Search');
      const id = await seedPayment(t, z.id, { receipt: 'TLK9ABCDEF' });
      await seedPayment(t, z.id, {});
      const otherId = await seedPayment(t, other.id, { receipt: 'TLK9OTHERS' });
      const byReceipt = await t.request('GET', '/v1/payments?search=tlk9abcdef', { key: z.key });
      assert.deepEqual(
        byReceipt.body.data.map((p: { id: string }) => p.id),
        [id],
      );
      const byId = await t.request('GET', `/v1/payments?search=${id}`, { key: z.key });
      assert.deepEqual(
        byId.body.data.map((p: { id: string }) => p.id),
        [id],
      );
      const foreign = await t.request('GET', `/v1/payments?search=${otherId}`, { key: z.key });
      assert.deepEqual(foreign.body.data, []);
    });

    it('builds the timeline from stored rows when the workflow history is out of reach', async () => {
      const id = await seedPayment(t, m.id, { status: 'success', createdAt: new Date(now - 600_000) });
      await t.db
        .insertInto('stk_pushes')
        .values({ payment_id: id, push_number: 1, marked_at: new Date(now - 590_000), outcome: 'accepted' })
        .execute();
      const evt = newId('event');
      await t.db
        .insertInto('events')
        .values({
          id: evt,
          merchant_id: m.id,
          environment: 'test',
          type: 'payment.success',
          payment_id: id,
          payment_version: 2,
          body: '{}',
          created_at: new Date(now - 500_000),
        })
        .execute();
      await t.db
        .insertInto('callback_inbox')
        .values({
          kind: 'stk',
          payment_id: id,
          body: '{}',
          error: 'workflow not found',
          received_at: new Date(now - 550_000),
        })
        .execute();
      const dlv = newId('delivery');
      await t.db
        .insertInto('webhook_deliveries')
        .values({
          id: dlv,
          event_id: evt,
          merchant_id: m.id,
          target_kind: 'callback_url',
          target_id: m.keyId,
          target_url: 'https://shop.example/hook',
          workflow_id: `webhook-${dlv}`,
          status: 'succeeded',
          attempts: 2,
          last_status_code: 200,
          created_at: new Date(now - 499_000),
          updated_at: new Date(now - 400_000),
        })
        .execute();
      await t.db
        .insertInto('webhook_attempts')
        .values([
          {
            delivery_id: dlv,
            attempt: 1,
            attempted_at: new Date(now - 498_000),
            target_url: 'https://shop.example/hook',
            status_code: 500,
            latency_ms: 40,
            error: null,
          },
          {
            delivery_id: dlv,
            attempt: 2,
            attempted_at: new Date(now - 400_000),
            target_url: 'https://shop.example/hook',
            status_code: 200,
            latency_ms: 35,
            error: null,
          },
        ])
        .execute();

      const r = await t.request('GET', `/v1/payments/${id}/timeline`, { key: m.key });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.workflow.workflowId, id);
      assert.equal(r.body.workflow.namespace, 'default');
      assert.equal(r.body.workflow.history, 'unavailable');
      assert.deepEqual(
        r.body.entries.map((e: { type: string }) => e.type),
        [
          'created',
          'stk_push',
          'callback_kept',
          'status',
          'webhook_delivery',
          'webhook_attempt',
          'webhook_attempt',
        ],
      );
      const attempts = r.body.entries.filter((e: { type: string }) => e.type === 'webhook_attempt');
      assert.deepEqual(
        attempts.map((a: { details: { statusCode: number } }) => a.details.statusCode),
        [500, 200],
      );

      expectEnvelope(
        await t.request('GET', `/v1/payments/${id}/timeline`, { key: other.key }),
        404,
        'RESOURCE_NOT_FOUND',
      );
      expectEnvelope(
        await t.request('GET', '/v1/payments/nope/timeline', { key: m.key }),
        400,
        'VALIDATION_ERROR',
      );
      await expectSecured(t, m.id, {
        method: 'GET',
        path: `/v1/payments/${id}/timeline`,
        scope: 'payments:read',
      });
    });

    it('lists the new routes in /openapi.json', async () => {
      const doc = (await t.request('GET', '/openapi.json')).body;
      assert.ok(doc.paths['/v1/reports/summary']?.get);
      assert.ok(doc.paths['/v1/reports/payments.csv']?.get?.responses?.['200']?.content?.['text/csv']);
      assert.ok(doc.paths['/v1/payments/{id}/timeline']?.get);
    });
  });
}
